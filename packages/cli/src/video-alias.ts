/**
 * `jpeglm generate --video ...` and `jpeglm complete --video CLIP ...` are the video forms of the
 * image commands (issue 7). They run `jpeglm avc generate|complete` with the same arguments, so
 * each job has exactly one implementation; the image commands' `--out` is spelled `--output`
 * there.
 */
const VIDEO_COMMANDS = new Set(['generate', 'complete']);

/** Rewrite process-style argv ([node, script, command, ...]) for the video alias; else a copy. */
export function expandVideoAlias(argv: readonly string[]): string[] {
  const [node, script, command, ...rest] = argv;
  if (command === undefined || !VIDEO_COMMANDS.has(command) || !rest.includes('--video')) {
    return [...argv];
  }
  const args = rest
    .filter((a) => a !== '--video')
    .map((a) =>
      a === '--out' ? '--output' : a.startsWith('--out=') ? `--output=${a.slice(6)}` : a,
    );
  return [node, script, 'avc', command, ...args];
}

export const VIDEO_OPTION_HELP =
  'H.264 clips with an AVC model: the same as `jpeglm avc <command>` with these arguments ' +
  '(see its --help for the options it takes)';
