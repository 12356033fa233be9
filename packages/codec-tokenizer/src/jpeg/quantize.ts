/**
 * Quantisation of islow DCT outputs (T.81 A.3.4), division-free as in libjpeg-turbo
 * (jcdctmgr.c compute_reciprocal / quantize): each divisor d = 8 * Q (the islow DCT is scaled
 * by 8) is replaced by a 16-bit reciprocal f, a correction c and a shift r with
 *
 *   |coef| -> ((|coef| + c) * f) >> r,  sign restored,
 *
 * which equals round-half-up(|coef| / d) = floor((|coef| + floor(d/2)) / d) for every |coef|
 * below 2^15 (checked exhaustively in the tests), i.e. libjpeg's rounding exactly.
 */
import { CodecError } from '../errors.js';
import { ZIGZAG } from './tables.js';

/**
 * Per-table constants, natural order: [f x64, c x64, r x64, d/2 x64]. A magnitude below d/2
 * quantises to 0, which lets the common case skip the multiply.
 */
export type QuantDivisors = Int32Array;

/**
 * Nonzero masks: for each block two words, bit 31 - (k & 31) of word k >> 5 set when the
 * coefficient at zig-zag position k (1..63) is not zero. The entropy coder walks the set bits
 * with clz instead of testing all 63 AC coefficients.
 */
export type NonzeroMasks = Int32Array;

/** For natural index i, its mask bit in word 0 and in word 1 (one of them is 0; DC has none). */
const MASK_LO = new Int32Array(64);
const MASK_HI = new Int32Array(64);
for (let k = 1; k < 64; k++) {
  const bit = (0x80000000 >>> (k & 31)) | 0;
  if (k < 32) MASK_LO[ZIGZAG[k]] = bit;
  else MASK_HI[ZIGZAG[k]] = bit;
}

/** The islow FDCT leaves this factor in its outputs (jfdctint.c). */
export const DCT_SCALE = 8;

export function computeQuantDivisors(quant: ArrayLike<number>): QuantDivisors {
  if (quant.length !== 64) {
    throw new CodecError(
      'invalid-argument',
      `a quantisation table has 64 entries, not ${quant.length}`,
    );
  }
  const table = new Int32Array(256);
  for (let i = 0; i < 64; i++) {
    const q = quant[i];
    if (!Number.isInteger(q) || q < 1 || q > 8191) {
      throw new CodecError('invalid-argument', `quantisation value ${q} is outside 1..8191`);
    }
    const d = q * DCT_SCALE;
    // b = index of the highest set bit; r = 16 + b bits of reciprocal precision.
    const b = 31 - Math.clz32(d);
    let r = 16 + b;
    let f = Math.floor(2 ** r / d);
    const remainder = 2 ** r - f * d;
    let c = d >> 1;
    if (remainder === 0) {
      // Power of two: f would need 17 bits; halve it and the shift instead.
      f >>= 1;
      r--;
    } else if (remainder <= d >> 1) {
      c++; // f rounded down: bias the dividend up by one
    } else {
      f++; // f rounded up
    }
    table[i] = f;
    table[64 + i] = c;
    table[128 + i] = r;
    table[192 + i] = d >> 1;
  }
  return table;
}

/**
 * Quantises the 64 DCT outputs in `coefs` (natural order) into `out` at `outOffset`, and records
 * which AC coefficients are nonzero in `masks[2 * block]`, `masks[2 * block + 1]`.
 * `>>>` keeps the product exact up to 2^32, the largest it can be for 16-bit divisors.
 */
export function quantizeBlock(
  coefs: Int32Array,
  divisors: QuantDivisors,
  out: Int16Array,
  outOffset: number,
  masks: NonzeroMasks,
  block: number,
): void {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 64; i++) {
    const t = coefs[i];
    // `sign` is 0 or -1; (x ^ sign) - sign is |x|, or puts the sign back.
    const sign = t >> 31;
    const magnitude = (t ^ sign) - sign;
    if (magnitude < divisors[192 + i]) {
      out[outOffset + i] = 0;
      continue;
    }
    const q = (((magnitude + divisors[64 + i]) * divisors[i]) >>> divisors[128 + i]) | 0;
    out[outOffset + i] = (q ^ sign) - sign;
    lo |= MASK_LO[i];
    hi |= MASK_HI[i];
  }
  masks[2 * block] = lo;
  masks[2 * block + 1] = hi;
}

/** Masks for coefficients that did not come from quantizeBlock (decoded or edited ones). */
export function computeNonzeroMasks(plane: Int16Array, masks: NonzeroMasks): void {
  const blocks = plane.length >> 6;
  for (let b = 0, o = 0; b < blocks; b++, o += 64) {
    let lo = 0;
    let hi = 0;
    for (let i = 1; i < 64; i++) {
      if (plane[o + i] !== 0) {
        lo |= MASK_LO[i];
        hi |= MASK_HI[i];
      }
    }
    masks[2 * b] = lo;
    masks[2 * b + 1] = hi;
  }
}
