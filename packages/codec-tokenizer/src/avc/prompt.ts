/**
 * Cutting clips at picture boundaries, for prompts: "the first K frames" of a canonical clip is
 * everything before the access unit of picture K (its first slice, first_mb_in_slice 0, and any
 * parameter sets just before it).
 */
import { CodecError } from '../errors.js';
import { avcSplitNalUnits } from './annexb.js';
import { avcFirstMbOf, isAvcVcl } from './header.js';

/**
 * Byte offset where picture `k` (0-based, decode order) begins in a stream or a headerless
 * body; `stream.length` when it holds `k` pictures or fewer.
 */
export function avcPictureOffset(stream: Uint8Array, k: number): number {
  if (!Number.isInteger(k) || k < 0) {
    throw new CodecError(
      'invalid-argument',
      `picture index must be a non-negative integer, got ${k}`,
    );
  }
  const { units } = avcSplitNalUnits(stream);
  let pictures = 0;
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (!isAvcVcl(u.type) || avcFirstMbOf(stream, u) !== 0) continue;
    if (pictures === k) {
      let j = i;
      while (j > 0 && !isAvcVcl(units[j - 1].type)) j--;
      return units[j].offset;
    }
    pictures++;
  }
  return stream.length;
}

/** The first `frames` pictures of a stream or body (the whole input if it has no more). */
export function avcKeepFrames(stream: Uint8Array, frames: number): Uint8Array {
  return stream.slice(0, avcPictureOffset(stream, frames));
}
