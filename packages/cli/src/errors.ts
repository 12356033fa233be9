import { isCodecError } from '@jpeglm/codec-tokenizer';
import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/**
 * An error meant for the person at the terminal: printed as one line (`jpeglm: <message>`),
 * no stack trace, and the process exits with `exitCode`.
 */
export class UserError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.badInput) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): UserError {
  return new UserError(message, ExitCode.usage);
}

/** Prefix a library error with the file it concerns, keeping its type (so exit codes hold). */
export function inFile(file: string, e: unknown): unknown {
  if (isCodecError(e) || e instanceof UserError) {
    return new UserError(
      `${file}: ${e.message}`,
      e instanceof UserError ? e.exitCode : ExitCode.badInput,
    );
  }
  return e;
}

/** Map any thrown value to (one line of text, exit code). */
export function describeError(e: unknown): { line: string; exitCode: ExitCodeValue } {
  if (e instanceof UserError) return { line: e.message, exitCode: e.exitCode };
  if (isCodecError(e)) return { line: e.message, exitCode: ExitCode.badInput };
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && typeof err.path === 'string') {
    const why: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EISDIR: 'is a directory, expected a file',
      ENOTDIR: 'a path component is not a directory',
      ENOSPC: 'no space left on device',
    };
    return { line: `${err.path}: ${why[err.code] ?? err.message}`, exitCode: ExitCode.badInput };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return {
    line: `internal error: ${msg.split('\n')[0]} (please report this; set JPEGLM_DEBUG=1 for a stack trace)`,
    exitCode: ExitCode.internal,
  };
}
