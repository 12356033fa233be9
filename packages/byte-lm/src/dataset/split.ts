/**
 * The train/val split: a sample goes to val when the first 32 bits of sha256(key), as a fraction
 * of 2^32, fall below the val fraction. The key is the source path or the group field's value,
 * so the split depends on nothing else (not the order, the machine or the other files).
 */
import { createHash } from 'node:crypto';

export type Split = 'train' | 'val';

export function splitOf(key: string, valFraction: number): Split {
  const h = createHash('sha256').update(key, 'utf8').digest();
  return h.readUInt32BE(0) / 2 ** 32 < valFraction ? 'val' : 'train';
}
