/**
 * Dequantisation and inverse DCT, bit-exact with libjpeg-turbo's "islow" integer IDCT
 * (jidctint.c jpeg_idct_islow: the Loeffler-Ligtenberg-Moschytz algorithm with 13-bit
 * constants, 2 extra bits of precision between the passes) and its output range limiting
 * (jdmaster.c prepare_range_limit_table).
 *
 * Arithmetic is done on JavaScript numbers, which are exact for every intermediate value here
 * (well below 2^53), so the 64-bit JLONG arithmetic of the C code is reproduced for any input;
 * descaling uses floor division, which is what an arithmetic right shift of a JLONG does.
 * Only the 32-bit `int` workspace between the passes wraps, as in C.
 */

import {
  CONST_BITS,
  FIX_0_298631336,
  FIX_0_390180644,
  FIX_0_541196100,
  FIX_0_765366865,
  FIX_0_899976223,
  FIX_1_175875602,
  FIX_1_501321110,
  FIX_1_847759065,
  FIX_1_961570560,
  FIX_2_053119869,
  FIX_2_562915447,
  FIX_3_072711026,
  PASS1_BITS,
} from './islow-constants.js';

/** DESCALE(x, 11) of pass 1 = floor((x + 2^10) / 2^11). */
const PASS1_ROUND = 1 << (CONST_BITS - PASS1_BITS - 1);
const PASS1_SCALE = 1 / (1 << (CONST_BITS - PASS1_BITS));
/** DESCALE(x, 18) of pass 2 (also undoing the 2^3 of the 2-D transform). */
const PASS2_ROUND = 1 << (CONST_BITS + PASS1_BITS + 3 - 1);
const PASS2_SCALE = 1 / (1 << (CONST_BITS + PASS1_BITS + 3));
/** DESCALE(x, 5) of a row whose AC terms are zero. */
const DC_ROUND = 1 << (PASS1_BITS + 3 - 1);
const DC_SCALE = 1 / (1 << (PASS1_BITS + 3));

/**
 * Post-IDCT range limit: index = descaled value & 1023 (RANGE_MASK), value = the value plus
 * 128, clamped to 0..255. Values outside -512..511 wrap around the mask exactly as in libjpeg.
 */
export const IDCT_RANGE_LIMIT: Uint8Array = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) {
    const v = (i < 512 ? i : i - 1024) + 128;
    t[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return t;
})();

/**
 * A quantisation table as libjpeg's islow IDCT multiplies by it: natural order, as 16-bit
 * signed values (ISLOW_MULT_TYPE is `short` in SIMD builds of libjpeg-turbo).
 */
export function idctQuantTable(quant: Uint16Array): Int32Array {
  return Int32Array.from(quant, (q) => (q << 16) >> 16);
}

/** Sample value of a block whose AC coefficients are all zero (the IDCT's zero shortcuts). */
export function dcOnlyValue(dc: number, q0: number): number {
  const ws = ((dc * q0) << PASS1_BITS) | 0;
  return IDCT_RANGE_LIMIT[Math.floor((ws + DC_ROUND) * DC_SCALE) & 1023];
}

const workspace = new Int32Array(64);

/**
 * Inverse-transform the 64 coefficients at coef[base..base+63] (natural order) with the
 * quantisation table q, writing 8x8 samples to out[outBase + row * stride + col].
 */
export function idctBlock(
  coef: Int16Array,
  base: number,
  q: Int32Array,
  out: Uint8Array,
  outBase: number,
  stride: number,
): void {
  const ws = workspace;
  const limit = IDCT_RANGE_LIMIT;
  // Pass 1: columns, from the coefficients into the workspace, scaled up by 2^PASS1_BITS.
  for (let c = 0; c < 8; c++) {
    const i = base + c;
    const c1 = coef[i + 8];
    const c2 = coef[i + 16];
    const c3 = coef[i + 24];
    const c4 = coef[i + 32];
    const c5 = coef[i + 40];
    const c6 = coef[i + 48];
    const c7 = coef[i + 56];
    if ((c1 | c2 | c3 | c4 | c5 | c6 | c7) === 0) {
      const dcval = (coef[i] * q[c]) << PASS1_BITS;
      ws[c] = dcval;
      ws[c + 8] = dcval;
      ws[c + 16] = dcval;
      ws[c + 24] = dcval;
      ws[c + 32] = dcval;
      ws[c + 40] = dcval;
      ws[c + 48] = dcval;
      ws[c + 56] = dcval;
      continue;
    }
    // Even part.
    let z2 = c2 * q[c + 16];
    let z3 = c6 * q[c + 48];
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = coef[i] * q[c];
    z3 = c4 * q[c + 32];
    let tmp0 = (z2 + z3) * (1 << CONST_BITS);
    let tmp1 = (z2 - z3) * (1 << CONST_BITS);
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    // Odd part.
    tmp0 = c7 * q[c + 56];
    tmp1 = c5 * q[c + 40];
    tmp2 = c3 * q[c + 24];
    tmp3 = c1 * q[c + 8];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    ws[c] = Math.floor((tmp10 + tmp3 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 56] = Math.floor((tmp10 - tmp3 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 8] = Math.floor((tmp11 + tmp2 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 48] = Math.floor((tmp11 - tmp2 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 16] = Math.floor((tmp12 + tmp1 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 40] = Math.floor((tmp12 - tmp1 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 24] = Math.floor((tmp13 + tmp0 + PASS1_ROUND) * PASS1_SCALE);
    ws[c + 32] = Math.floor((tmp13 - tmp0 + PASS1_ROUND) * PASS1_SCALE);
  }
  // Pass 2: rows, from the workspace to samples, descaled by 2^(3 + PASS1_BITS).
  for (let r = 0; r < 8; r++) {
    const w = r * 8;
    const o = outBase + r * stride;
    const w1 = ws[w + 1];
    const w2 = ws[w + 2];
    const w3 = ws[w + 3];
    const w4 = ws[w + 4];
    const w5 = ws[w + 5];
    const w6 = ws[w + 6];
    const w7 = ws[w + 7];
    if ((w1 | w2 | w3 | w4 | w5 | w6 | w7) === 0) {
      const v = limit[Math.floor((ws[w] + DC_ROUND) * DC_SCALE) & 1023];
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
      out[o + 3] = v;
      out[o + 4] = v;
      out[o + 5] = v;
      out[o + 6] = v;
      out[o + 7] = v;
      continue;
    }
    let z1 = (w2 + w6) * FIX_0_541196100;
    let tmp0 = (ws[w] + w4) * (1 << CONST_BITS);
    let tmp3 = z1 + w2 * FIX_0_765366865;
    let tmp1 = (ws[w] - w4) * (1 << CONST_BITS);
    let tmp2 = z1 - w6 * FIX_1_847759065;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp3 = w1;
    tmp2 = w3;
    tmp1 = w5;
    tmp0 = w7;
    let z4 = tmp1 + tmp3;
    let z3 = tmp0 + tmp2;
    let z2 = tmp1 + tmp2;
    z1 = tmp0 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp3 *= FIX_1_501321110;
    tmp2 *= FIX_3_072711026;
    tmp1 *= FIX_2_053119869;
    tmp0 *= FIX_0_298631336;
    z4 = z4 * -FIX_0_390180644 + z5;
    z3 = z3 * -FIX_1_961570560 + z5;
    z2 *= -FIX_2_562915447;
    z1 *= -FIX_0_899976223;
    tmp3 += z1 + z4;
    tmp2 += z2 + z3;
    tmp1 += z2 + z4;
    tmp0 += z1 + z3;
    out[o] = limit[Math.floor((tmp10 + tmp3 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 7] = limit[Math.floor((tmp10 - tmp3 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 1] = limit[Math.floor((tmp11 + tmp2 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 6] = limit[Math.floor((tmp11 - tmp2 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 2] = limit[Math.floor((tmp12 + tmp1 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 5] = limit[Math.floor((tmp12 - tmp1 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 3] = limit[Math.floor((tmp13 + tmp0 + PASS2_ROUND) * PASS2_SCALE) & 1023];
    out[o + 4] = limit[Math.floor((tmp13 - tmp0 + PASS2_ROUND) * PASS2_SCALE) & 1023];
  }
}
