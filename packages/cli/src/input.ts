/**
 * Input and output paths for commands that read one file and write one file: `-` means stdin
 * (or stdout), and an output path is checked before any work so a typo fails fast.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { usageError, UserError } from './errors.js';
import { DEFAULT_MAX_INPUT_BYTES, readInput } from './io.js';

/** How a path is named in messages. */
export function displayName(file: string): string {
  return file === '-' ? 'stdin' : file;
}

async function readStdin(maxBytes: number): Promise<Uint8Array> {
  if (process.stdin.isTTY) {
    throw usageError('refusing to read image data from a terminal; pipe a file in or name one');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > maxBytes) {
      throw new UserError(`stdin: more than ${maxBytes} bytes, above the input limit`);
    }
    chunks.push(b);
  }
  if (total === 0) throw new UserError('stdin: empty input');
  return new Uint8Array(Buffer.concat(chunks, total));
}

/** A whole file, or stdin for `-`; refuses empty and oversized inputs and directories. */
export function readFileOrStdin(
  file: string,
  maxBytes = DEFAULT_MAX_INPUT_BYTES,
): Promise<Uint8Array> {
  return file === '-' ? readStdin(maxBytes) : readInput(file, maxBytes);
}

/**
 * Fail early, with the path named, if `out` cannot be a file we write: an existing directory,
 * or a parent directory that does not exist.
 */
export async function checkOutputFile(out: string | undefined): Promise<void> {
  if (out === undefined || out === '-') return;
  const st = await fs.stat(out).catch(() => undefined);
  if (st?.isDirectory()) throw usageError(`${out}: is a directory, expected a file name`);
  const dir = path.dirname(path.resolve(out));
  const dst = await fs.stat(dir).catch(() => undefined);
  if (!dst?.isDirectory()) throw usageError(`${out}: directory ${dir} does not exist`);
}

/** Fail early unless `dir` is an existing directory. */
export async function checkOutputDirectory(dir: string): Promise<void> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw usageError(`${dir}: not an existing directory`);
}
