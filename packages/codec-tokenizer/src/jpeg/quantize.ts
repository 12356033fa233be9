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

/** Reciprocals, corrections and shifts of one table: [f x64, c x64, r x64], natural order. */
export type QuantDivisors = Int32Array;

/** The islow FDCT leaves this factor in its outputs (jfdctint.c). */
export const DCT_SCALE = 8;

export function computeQuantDivisors(quant: ArrayLike<number>): QuantDivisors {
  if (quant.length !== 64) {
    throw new CodecError(
      'invalid-argument',
      `a quantisation table has 64 entries, not ${quant.length}`,
    );
  }
  const table = new Int32Array(192);
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
  }
  return table;
}

/**
 * Quantises the 64 DCT outputs in `coefs` (natural order) into `out` at `outOffset`.
 * `>>>` keeps the product exact up to 2^32, the largest it can be for 16-bit divisors.
 */
export function quantizeBlock(
  coefs: Int32Array,
  divisors: QuantDivisors,
  out: Int16Array,
  outOffset: number,
): void {
  // Branch-free: signs of DCT outputs are unpredictable, so a branch per coefficient would
  // mispredict often. `sign` is 0 or -1; (x ^ sign) - sign is |x| or restores the sign.
  for (let i = 0; i < 64; i++) {
    const t = coefs[i];
    const sign = t >> 31;
    const q = ((((t ^ sign) - sign + divisors[64 + i]) * divisors[i]) >>> divisors[128 + i]) | 0;
    out[outOffset + i] = (q ^ sign) - sign;
  }
}
