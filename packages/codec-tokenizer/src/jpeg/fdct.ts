/**
 * libjpeg's "islow" integer forward DCT (jfdctint.c): the Loeffler-Ligtenberg-Moschytz
 * algorithm with 12 multiplies, constants with CONST_BITS = 13 fractional bits, pass-1 outputs
 * kept PASS1_BITS = 2 bits up. Outputs are 8 times the orthonormal DCT (T.81 A.3.3); the factor
 * is removed by quantisation (divisors are quant * 8, see quantize.ts).
 *
 * Every intermediate fits in 32 bits for 8-bit samples, so plain JS integer arithmetic with
 * arithmetic right shifts reproduces the C code bit for bit.
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

const SHIFT1 = CONST_BITS - PASS1_BITS;
const ROUND1 = 1 << (SHIFT1 - 1);
const SHIFT2 = CONST_BITS + PASS1_BITS;
const ROUND2 = 1 << (SHIFT2 - 1);
const ROUND_PASS1 = 1 << (PASS1_BITS - 1);

/** Level shift of 8-bit samples before the DCT (T.81 A.3.1; CENTERJSAMPLE in libjpeg). */
export const CENTER_SAMPLE = 128;

/**
 * Forward DCT of the 8x8 block of `samples` whose top-left sample is at `offset`, rows `stride`
 * apart. Writes the 64 unquantised coefficients (natural order, scaled by 8) to `out`.
 */
export function forwardDctBlock(
  samples: Uint8Array,
  offset: number,
  stride: number,
  out: Int32Array,
): void {
  // Pass 1: rows, with the level shift folded in (it only changes the DC sums).
  for (let row = 0, s = offset, o = 0; row < 8; row++, s += stride, o += 8) {
    const d0 = samples[s];
    const d1 = samples[s + 1];
    const d2 = samples[s + 2];
    const d3 = samples[s + 3];
    const d4 = samples[s + 4];
    const d5 = samples[s + 5];
    const d6 = samples[s + 6];
    const d7 = samples[s + 7];

    const tmp0 = d0 + d7;
    const tmp7 = d0 - d7;
    const tmp1 = d1 + d6;
    const tmp6 = d1 - d6;
    const tmp2 = d2 + d5;
    const tmp5 = d2 - d5;
    const tmp3 = d3 + d4;
    const tmp4 = d3 - d4;

    // Even part. The sums of 8 level-shifted samples are the raw sums minus 8 * 128.
    const tmp10 = tmp0 + tmp3 - 4 * CENTER_SAMPLE;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2 - 4 * CENTER_SAMPLE;
    const tmp12 = tmp1 - tmp2;

    out[o] = (tmp10 + tmp11) << PASS1_BITS;
    out[o + 4] = (tmp10 - tmp11) << PASS1_BITS;

    const z1e = (tmp12 + tmp13) * FIX_0_541196100;
    out[o + 2] = (z1e + tmp13 * FIX_0_765366865 + ROUND1) >> SHIFT1;
    out[o + 6] = (z1e - tmp12 * FIX_1_847759065 + ROUND1) >> SHIFT1;

    // Odd part (LL&M figure 8).
    const z5 = (tmp4 + tmp6 + tmp5 + tmp7) * FIX_1_175875602;
    const z1 = -(tmp4 + tmp7) * FIX_0_899976223;
    const z2 = -(tmp5 + tmp6) * FIX_2_562915447;
    const z3 = z5 - (tmp4 + tmp6) * FIX_1_961570560;
    const z4 = z5 - (tmp5 + tmp7) * FIX_0_390180644;

    out[o + 7] = (tmp4 * FIX_0_298631336 + z1 + z3 + ROUND1) >> SHIFT1;
    out[o + 5] = (tmp5 * FIX_2_053119869 + z2 + z4 + ROUND1) >> SHIFT1;
    out[o + 3] = (tmp6 * FIX_3_072711026 + z2 + z3 + ROUND1) >> SHIFT1;
    out[o + 1] = (tmp7 * FIX_1_501321110 + z1 + z4 + ROUND1) >> SHIFT1;
  }

  // Pass 2: columns; removes the PASS1_BITS scaling, leaves the overall factor of 8.
  for (let c = 0; c < 8; c++) {
    const d0 = out[c];
    const d1 = out[c + 8];
    const d2 = out[c + 16];
    const d3 = out[c + 24];
    const d4 = out[c + 32];
    const d5 = out[c + 40];
    const d6 = out[c + 48];
    const d7 = out[c + 56];

    const tmp0 = d0 + d7;
    const tmp7 = d0 - d7;
    const tmp1 = d1 + d6;
    const tmp6 = d1 - d6;
    const tmp2 = d2 + d5;
    const tmp5 = d2 - d5;
    const tmp3 = d3 + d4;
    const tmp4 = d3 - d4;

    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    out[c] = (tmp10 + tmp11 + ROUND_PASS1) >> PASS1_BITS;
    out[c + 32] = (tmp10 - tmp11 + ROUND_PASS1) >> PASS1_BITS;

    const z1e = (tmp12 + tmp13) * FIX_0_541196100;
    out[c + 16] = (z1e + tmp13 * FIX_0_765366865 + ROUND2) >> SHIFT2;
    out[c + 48] = (z1e - tmp12 * FIX_1_847759065 + ROUND2) >> SHIFT2;

    const z5 = (tmp4 + tmp6 + tmp5 + tmp7) * FIX_1_175875602;
    const z1 = -(tmp4 + tmp7) * FIX_0_899976223;
    const z2 = -(tmp5 + tmp6) * FIX_2_562915447;
    const z3 = z5 - (tmp4 + tmp6) * FIX_1_961570560;
    const z4 = z5 - (tmp5 + tmp7) * FIX_0_390180644;

    out[c + 56] = (tmp4 * FIX_0_298631336 + z1 + z3 + ROUND2) >> SHIFT2;
    out[c + 40] = (tmp5 * FIX_2_053119869 + z2 + z4 + ROUND2) >> SHIFT2;
    out[c + 24] = (tmp6 * FIX_3_072711026 + z2 + z3 + ROUND2) >> SHIFT2;
    out[c + 8] = (tmp7 * FIX_1_501321110 + z1 + z4 + ROUND2) >> SHIFT2;
  }
}
