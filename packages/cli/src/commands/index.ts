import type { Command } from 'commander';

/**
 * Every subcommand lives in its own module under commands/ and exports `register`, which adds it
 * to the program. Add a command by adding one import and one entry here.
 */
export type RegisterCommand = (program: Command) => void;

export const commands: readonly RegisterCommand[] = [];
