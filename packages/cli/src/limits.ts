import { usageError } from './errors.js';

/** Parse --max-megapixels: a positive number. */
export function parseMegapixels(text: string): number {
  const v = Number(text);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || !(v > 0)) {
    throw usageError(`--max-megapixels must be a positive number, got '${text}'`);
  }
  return v;
}
