/**
 * YCbCr -> RGB conversion (JFIF / ITU-R BT.601 full range), bit-exact with libjpeg-turbo's
 * jdcolor.c: 16-bit fixed-point tables built by build_ycc_rgb_table and the
 * sample_range_limit clamp.
 *
 *   R = Y + 1.40200 Cr'            G = Y - 0.34414 Cb' - 0.71414 Cr'            B = Y + 1.77200 Cb'
 *   (Cb' = Cb - 128, Cr' = Cr - 128)
 */

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number): number => Math.trunc(x * (1 << SCALEBITS) + 0.5);

const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  // ONE_HALF is folded into the Cb table, so the inner loop only shifts.
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

/** Clamp to 0..255 for values -256..511 (sample_range_limit), indexed by value + 256. */
const CLAMP = new Uint8Array(768);
for (let i = 0; i < 768; i++) CLAMP[i] = i < 256 ? 0 : i > 511 ? 255 : i - 256;

/** Convert `width` pixels of Y, Cb, Cr rows to interleaved RGB at out[outOff..]. */
export function yccRowToRgb(
  y: Uint8Array,
  yOff: number,
  cb: Uint8Array,
  cbOff: number,
  cr: Uint8Array,
  crOff: number,
  out: Uint8Array,
  outOff: number,
  width: number,
): void {
  const clamp = CLAMP;
  for (let x = 0, o = outOff; x < width; x++, o += 3) {
    const yy = y[yOff + x] + 256;
    const b = cb[cbOff + x];
    const r = cr[crOff + x];
    out[o] = clamp[yy + CR_R[r]];
    out[o + 1] = clamp[yy + ((CB_G[b] + CR_G[r]) >> SCALEBITS)];
    out[o + 2] = clamp[yy + CB_B[b]];
  }
}

/** Grey samples to RGB (jdcolor.c gray_rgb_convert: R = G = B = Y). */
export function grayRowToRgb(
  y: Uint8Array,
  yOff: number,
  out: Uint8Array,
  outOff: number,
  width: number,
): void {
  for (let x = 0, o = outOff; x < width; x++, o += 3) {
    const v = y[yOff + x];
    out[o] = v;
    out[o + 1] = v;
    out[o + 2] = v;
  }
}

/** Three components that already are R, G, B (Adobe transform 0, or ids 'R','G','B'). */
export function rgbRowToRgb(
  r: Uint8Array,
  rOff: number,
  g: Uint8Array,
  gOff: number,
  b: Uint8Array,
  bOff: number,
  out: Uint8Array,
  outOff: number,
  width: number,
): void {
  for (let x = 0, o = outOff; x < width; x++, o += 3) {
    out[o] = r[rOff + x];
    out[o + 1] = g[gOff + x];
    out[o + 2] = b[bOff + x];
  }
}
