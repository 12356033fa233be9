/**
 * Evaluation on a prepared dataset: held-out bits per byte, and whether a generated file
 * decodes with no warning (our structural validator and our strict decoder both agree).
 */
import { CodecError, decodeJpeg, validateJpeg } from '@jpeglm/codec-tokenizer';
import type { CausalLM } from '../causal-lm.js';
import { scoreSequence } from '../score.js';

export interface ScoredGroup {
  readonly samples: number;
  readonly bits: number;
  readonly bytes: number;
  /** bits / bytes; NaN when nothing was scored. */
  readonly bitsPerByte: number;
}

export interface HeldOutResult extends ScoredGroup {
  /** Samples longer than the model's context, left out (never cut: a cut is not an image). */
  readonly tooLong: number;
  /** Per class id (null: unlabelled), in first-seen order. */
  readonly perClass: Map<number | null, ScoredGroup>;
}

export interface HeldOutSample {
  readonly tokens: ArrayLike<number>;
  readonly classId: number | null;
}

/**
 * Bits per byte of sequences [BOS, class, scan bytes, EOS] conditioned on BOS and the class:
 * the code length of the scan bytes, EOI and EOS over the number of bytes (as scoreSequence).
 * The total is over all bytes (a long image weighs more), like byte-level LM evaluations.
 */
export async function heldOutBitsPerByte(
  model: CausalLM,
  samples: readonly HeldOutSample[],
  onSample?: (done: number) => void,
): Promise<HeldOutResult> {
  const groups = new Map<number | null, { samples: number; bits: number; bytes: number }>();
  let bits = 0;
  let bytes = 0;
  let scored = 0;
  let tooLong = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (s.tokens.length - 1 > model.maxPositions) {
      tooLong++;
    } else {
      const r = await scoreSequence(model, Array.from(s.tokens), { prefixLength: 2 });
      bits += r.totalBits;
      bytes += r.bytes;
      scored++;
      const g = groups.get(s.classId) ?? { samples: 0, bits: 0, bytes: 0 };
      g.samples++;
      g.bits += r.totalBits;
      g.bytes += r.bytes;
      groups.set(s.classId, g);
    }
    onSample?.(i + 1);
  }
  const perClass = new Map<number | null, ScoredGroup>();
  for (const [k, g] of groups) perClass.set(k, { ...g, bitsPerByte: g.bits / g.bytes });
  return {
    samples: scored,
    bits,
    bytes,
    bitsPerByte: bytes > 0 ? bits / bytes : Number.NaN,
    tooLong,
    perClass,
  };
}

/** Why a JPEG file does not decode cleanly, or undefined when it does. */
export function jpegDecodeProblem(jpeg: Uint8Array): string | undefined {
  let report;
  try {
    report = validateJpeg(jpeg);
  } catch (e) {
    if (e instanceof CodecError) return e.message;
    throw e;
  }
  if (report.verdict !== 'valid' || report.problems.length > 0) {
    return report.problems[0]?.message ?? `verdict ${report.verdict}`;
  }
  try {
    decodeJpeg(jpeg);
  } catch (e) {
    if (e instanceof CodecError) return e.message;
    throw e;
  }
  return undefined;
}
