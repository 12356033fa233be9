import { Command, CommanderError } from 'commander';
import { describeError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { commands } from './commands/index.js';
import { expandVideoAlias } from './video-alias.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('jpeglm')
    .description(
      'Codec-as-tokens generative modeling: images and videos as the bytes of canonical JPEG and H.264 files.',
    )
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of commands) register(program);
  // Every subcommand inherits the exit override, so usage errors map to our exit code.
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code and never throws. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(expandVideoAlias(argv));
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" to commander; they are successes to us.
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      ) {
        return ExitCode.ok;
      }
      return ExitCode.usage; // commander already printed the message
    }
    const { line, exitCode } = describeError(e);
    process.stderr.write(`jpeglm: ${line}\n`);
    if (process.env.JPEGLM_DEBUG && e instanceof Error && e.stack)
      process.stderr.write(`${e.stack}\n`);
    return exitCode;
  }
}
