/**
 * RGB -> YCbCr (JFIF / ITU-R BT.601 full range) in libjpeg's fixed-point arithmetic
 * (jccolor.c rgb_ycc_convert): 16 fractional bits, coefficients rounded to the nearest 1/65536,
 * Y rounded half-up, Cb/Cr rounded with a 0.5-epsilon fudge so 255 never overflows.
 *
 * libjpeg keeps a table of `coefficient * i` per channel; multiplying directly gives the same
 * integers, so these constants are all the state we need.
 */
import type { RgbImage } from '../image.js';

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
/** 128 << SCALEBITS: the Cb/Cr level offset. */
const CBCR_OFFSET = 128 << SCALEBITS;

/** FIX(x) = round(x * 2^16) for the jccolor.c coefficients. */
export const Y_R = 19595; // FIX(0.29900)
export const Y_G = 38470; // FIX(0.58700)
export const Y_B = 7471; // FIX(0.11400)
export const CB_R = 11059; // FIX(0.16874), subtracted
export const CB_G = 21709; // FIX(0.33126), subtracted
export const CB_B = 32768; // FIX(0.50000)
export const CR_R = 32768; // FIX(0.50000)
export const CR_G = 27439; // FIX(0.41869), subtracted
export const CR_B = 5329; // FIX(0.08131), subtracted

/** Rounding term added to Y before the shift. */
export const Y_ROUND = ONE_HALF;
/** Offset plus 0.5-epsilon rounding added to Cb and Cr before the shift. */
export const CBCR_ROUND = CBCR_OFFSET + ONE_HALF - 1;

/** One pixel's luma, exactly as jccolor.c computes it. */
export function rgbToY(r: number, g: number, b: number): number {
  return (Y_R * r + Y_G * g + Y_B * b + Y_ROUND) >> SCALEBITS;
}

export function rgbToCb(r: number, g: number, b: number): number {
  return (CB_B * b - CB_R * r - CB_G * g + CBCR_ROUND) >> SCALEBITS;
}

export function rgbToCr(r: number, g: number, b: number): number {
  return (CR_R * r - CR_G * g - CR_B * b + CBCR_ROUND) >> SCALEBITS;
}

/**
 * Converts an RGB image to full-resolution sample planes of `stride` x `rows` samples, replicating
 * the last column and row into the padding: the edge expansion libjpeg performs before
 * downsampling and DCT (jcsample.c expand_right_edge, jcprepct.c expand_bottom_edge).
 * `cb`/`cr` may be undefined for a greyscale frame (libjpeg's rgb_gray uses the same Y formula).
 */
export function convertRgbToYccPlanes(
  image: RgbImage,
  y: Uint8Array,
  cb: Uint8Array | undefined,
  cr: Uint8Array | undefined,
  stride: number,
  rows: number,
): void {
  const { width, height, data } = image;
  for (let row = 0; row < height; row++) {
    let s = row * width * 3;
    const o = row * stride;
    const end = o + width;
    if (cb !== undefined && cr !== undefined) {
      for (let d = o; d < end; d++, s += 3) {
        const r = data[s];
        const g = data[s + 1];
        const b = data[s + 2];
        y[d] = (Y_R * r + Y_G * g + Y_B * b + Y_ROUND) >> SCALEBITS;
        cb[d] = (CB_B * b - CB_R * r - CB_G * g + CBCR_ROUND) >> SCALEBITS;
        cr[d] = (CR_R * r - CR_G * g - CR_B * b + CBCR_ROUND) >> SCALEBITS;
      }
    } else {
      for (let d = o; d < end; d++, s += 3) {
        y[d] = (Y_R * data[s] + Y_G * data[s + 1] + Y_B * data[s + 2] + Y_ROUND) >> SCALEBITS;
      }
    }
    if (stride > width) {
      replicateRight(y, o, width, stride);
      if (cb !== undefined) replicateRight(cb, o, width, stride);
      if (cr !== undefined) replicateRight(cr, o, width, stride);
    }
  }
  replicateRowsDown(y, stride, height, rows);
  if (cb !== undefined) replicateRowsDown(cb, stride, height, rows);
  if (cr !== undefined) replicateRowsDown(cr, stride, height, rows);
}

function replicateRight(plane: Uint8Array, rowStart: number, width: number, stride: number): void {
  plane.fill(plane[rowStart + width - 1], rowStart + width, rowStart + stride);
}

/** Copies row `validRows - 1` into rows validRows..rows-1. */
export function replicateRowsDown(
  plane: Uint8Array,
  stride: number,
  validRows: number,
  rows: number,
): void {
  const last = (validRows - 1) * stride;
  for (let r = validRows; r < rows; r++) plane.copyWithin(r * stride, last, last + stride);
}
