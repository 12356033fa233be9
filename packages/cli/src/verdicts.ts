import { describeError, usageError } from './errors.js';
import { ExitCode, type ExitCodeValue } from './exit-codes.js';
import { writeStdout } from './io.js';

/**
 * What `jpeglm validate` and `jpeglm avc validate` share: the --max-problems option, the text
 * report of one file, the line for a file that could not be checked, and the exit status
 * (0 all valid, 1 some repairable, 2 some rejected or unreadable).
 */
export type Verdict = 'valid' | 'repairable' | 'rejected';

export function parseMaxProblems(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw usageError(`--max-problems must be a non-negative integer, got '${text}'`);
  }
  return n;
}

/** Print a file's summary line and its first `maxProblems` problem lines (0 = all). */
export async function printFileReport(
  summary: string,
  problems: readonly string[],
  maxProblems: number,
): Promise<void> {
  const shown = maxProblems === 0 ? problems : problems.slice(0, maxProblems);
  const lines = [summary, ...shown];
  if (shown.length < problems.length) {
    lines.push(`  ... ${problems.length - shown.length} more (use --json for all)`);
  }
  await writeStdout(`${lines.join('\n')}\n`);
}

/**
 * A file that could not be checked counts as rejected: its one-line reason goes to stderr and is
 * returned (without the file name). Bugs, and errors `fatal` names, are rethrown instead.
 */
export function uncheckedFile(file: string, e: unknown, fatal?: (e: unknown) => boolean): string {
  const { line, exitCode } = describeError(e);
  if (exitCode === ExitCode.internal || fatal?.(e) === true) throw e;
  // Messages about unreadable files usually name the file already.
  const error = line.startsWith(`${file}: `) ? line.slice(file.length + 2) : line;
  process.stderr.write(`jpeglm: ${file}: ${error}\n`);
  return error;
}

export function verdictExitCode(results: readonly { readonly verdict: Verdict }[]): ExitCodeValue {
  if (results.some((r) => r.verdict === 'rejected')) return ExitCode.badInput;
  if (results.some((r) => r.verdict === 'repairable')) return ExitCode.repairable;
  return ExitCode.ok;
}
