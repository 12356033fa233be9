import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '@jpeglm/byte-lm';
import { ExitCode } from './exit-codes.js';
import { UserError } from './errors.js';

/** Default refusal limit for input files read whole into memory. */
export const DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** Read a whole file, refusing empty files and files above `maxBytes` before allocating. */
export async function readInput(
  file: string,
  maxBytes = DEFAULT_MAX_INPUT_BYTES,
): Promise<Uint8Array> {
  const st = await fs.stat(file);
  if (st.isDirectory()) throw new UserError(`${file}: is a directory, expected a file`);
  if (st.size === 0) throw new UserError(`${file}: empty file`);
  if (st.size > maxBytes) {
    throw new UserError(`${file}: ${st.size} bytes exceeds the ${maxBytes}-byte input limit`);
  }
  return new Uint8Array(await fs.readFile(file));
}

/** Atomic file output (temp file + rename), shared with the library's own writers. */
export { writeFileAtomic };

/** Refuse to write binary data to a terminal; the hint names the option that writes a file. */
export function assertBinaryStdout(hint = 'redirect to a file (> out.jpg) or use -o FILE'): void {
  if (process.stdout.isTTY) {
    throw new UserError(`refusing to write binary data to a terminal; ${hint}`, ExitCode.usage);
  }
}

/** Write bytes to stdout and wait until they are flushed (so the exit code follows the data). */
export function writeStdout(data: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** Binary output: to `out` atomically if given, else to stdout (refused on a terminal). */
export async function emitBinary(data: Uint8Array, out: string | undefined): Promise<void> {
  if (out !== undefined && out !== '-') {
    await writeFileAtomic(out, data);
    return;
  }
  assertBinaryStdout();
  await writeStdout(data);
}
