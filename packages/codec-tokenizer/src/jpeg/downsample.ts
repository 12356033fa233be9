/**
 * Chroma downsampling as libjpeg does it (jcsample.c), on edge-expanded full-resolution planes.
 *
 * - 2x2 (h2v2_downsample): average of 4 samples with a bias alternating 1, 2, 1, 2 along each
 *   row, so rounding errors do not accumulate in one direction.
 * - 2x1 (h2v1_downsample): average of 2 samples, bias alternating 0, 1.
 * - any other integral factor (int_downsample): rounded average, bias = samples / 2.
 *
 * Bottom padding follows jcprepct.c: only the first `computedRows` output rows come from
 * (edge-replicated) input rows; the rest of the iMCU row repeats the last computed output row.
 */
import { CodecError } from '../errors.js';
import type { RgbImage } from '../image.js';
import { replicateRowsDown, rgbToCb, rgbToCr, rgbToY } from './color-convert.js';

export interface DownsampleGeometry {
  /** Input plane and its row stride; columns up to outCols * hFactor must be valid. */
  readonly src: Uint8Array;
  readonly srcStride: number;
  readonly dst: Uint8Array;
  readonly dstStride: number;
  /** Output columns to produce: width_in_blocks * 8. */
  readonly outCols: number;
  /** Output rows produced from input data: ceil(height / vMax) * v. */
  readonly computedRows: number;
  /** Output rows in the plane (rows beyond computedRows repeat the last one). */
  readonly outRows: number;
  /** Integral downsampling factors hMax / h and vMax / v. */
  readonly hFactor: number;
  readonly vFactor: number;
}

export function downsamplePlane(g: DownsampleGeometry): void {
  const { hFactor, vFactor } = g;
  if (hFactor === 2 && vFactor === 2) downsampleH2V2(g);
  else if (hFactor === 2 && vFactor === 1) downsampleH2V1(g);
  else if (hFactor >= 1 && vFactor >= 1 && hFactor <= 4 && vFactor <= 4) downsampleIntegral(g);
  else {
    throw new CodecError(
      'unsupported',
      `downsampling by ${hFactor}x${vFactor} is not supported (sampling factors must divide the maximum)`,
    );
  }
  replicateRowsDown(g.dst, g.dstStride, g.computedRows, g.outRows);
}

function downsampleH2V2(g: DownsampleGeometry): void {
  const { src, srcStride, dst, dstStride, outCols, computedRows } = g;
  for (let row = 0; row < computedRows; row++) {
    let i0 = 2 * row * srcStride;
    let i1 = i0 + srcStride;
    const o = row * dstStride;
    const end = o + outCols;
    for (let d = o; d < end; d += 2, i0 += 4, i1 += 4) {
      dst[d] = (src[i0] + src[i0 + 1] + src[i1] + src[i1 + 1] + 1) >> 2;
      dst[d + 1] = (src[i0 + 2] + src[i0 + 3] + src[i1 + 2] + src[i1 + 3] + 2) >> 2;
    }
  }
}

function downsampleH2V1(g: DownsampleGeometry): void {
  const { src, srcStride, dst, dstStride, outCols, computedRows } = g;
  for (let row = 0; row < computedRows; row++) {
    let i = row * srcStride;
    const o = row * dstStride;
    const end = o + outCols;
    for (let d = o; d < end; d += 2, i += 4) {
      dst[d] = (src[i] + src[i + 1]) >> 1;
      dst[d + 1] = (src[i + 2] + src[i + 3] + 1) >> 1;
    }
  }
}

function downsampleIntegral(g: DownsampleGeometry): void {
  const { src, srcStride, dst, dstStride, outCols, computedRows, hFactor, vFactor } = g;
  const count = hFactor * vFactor;
  const bias = count >> 1;
  for (let row = 0; row < computedRows; row++) {
    const inRow = row * vFactor * srcStride;
    const o = row * dstStride;
    for (let col = 0; col < outCols; col++) {
      let sum = 0;
      for (let v = 0; v < vFactor; v++) {
        const base = inRow + v * srcStride + col * hFactor;
        for (let h = 0; h < hFactor; h++) sum += src[base + h];
      }
      dst[o + col] = Math.trunc((sum + bias) / count);
    }
  }
}

/** Output of the fused 4:2:0 path: luma at full size, chroma at half size in both directions. */
export interface Planes420 {
  readonly y: Uint8Array;
  readonly yStride: number;
  readonly yRows: number;
  readonly cb: Uint8Array;
  readonly cr: Uint8Array;
  readonly cStride: number;
  readonly cRows: number;
}

/**
 * Colour conversion and 2x2 chroma downsampling in one pass over the RGB pixels, with the same
 * results as convertRgbToYccPlanes followed by downsamplePlane(2, 2) (and so as libjpeg), but
 * without materialising full-resolution chroma planes. Each output chroma sample still averages
 * four separately rounded per-pixel Cb (Cr) values, as jcsample.c does.
 */
export function convertAndDownsample420(image: RgbImage, p: Planes420): void {
  const { width, height, data } = image;
  const { y, yStride, yRows, cb, cr, cStride, cRows } = p;
  const pairs = width >> 1;
  const chromaRows = (height + 1) >> 1;
  for (let row = 0; row < chromaRows; row++) {
    const y0 = 2 * row;
    const hasSecond = y0 + 1 < height;
    let s0 = y0 * width * 3;
    let s1 = hasSecond ? s0 + width * 3 : s0;
    let d0 = y0 * yStride;
    let d1 = hasSecond ? d0 + yStride : d0;
    let c = row * cStride;
    for (let cx = 0; cx < pairs; cx++, s0 += 6, s1 += 6, d0 += 2, d1 += 2, c++) {
      let r = data[s0];
      let g = data[s0 + 1];
      let b = data[s0 + 2];
      y[d0] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
      let sumCb = (32768 * b - 11059 * r - 21709 * g + 8421375) >> 16;
      let sumCr = (32768 * r - 27439 * g - 5329 * b + 8421375) >> 16;
      r = data[s0 + 3];
      g = data[s0 + 4];
      b = data[s0 + 5];
      y[d0 + 1] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
      sumCb += (32768 * b - 11059 * r - 21709 * g + 8421375) >> 16;
      sumCr += (32768 * r - 27439 * g - 5329 * b + 8421375) >> 16;
      r = data[s1];
      g = data[s1 + 1];
      b = data[s1 + 2];
      y[d1] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
      sumCb += (32768 * b - 11059 * r - 21709 * g + 8421375) >> 16;
      sumCr += (32768 * r - 27439 * g - 5329 * b + 8421375) >> 16;
      r = data[s1 + 3];
      g = data[s1 + 4];
      b = data[s1 + 5];
      y[d1 + 1] = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
      sumCb += (32768 * b - 11059 * r - 21709 * g + 8421375) >> 16;
      sumCr += (32768 * r - 27439 * g - 5329 * b + 8421375) >> 16;
      // jcsample.c h2v2 bias: 1 for even output columns, 2 for odd ones.
      const bias = 1 + (cx & 1);
      cb[c] = (sumCb + bias) >> 2;
      cr[c] = (sumCr + bias) >> 2;
    }
    // Right edge: columns from `2 * pairs` on are copies of the last pixel (expand_right_edge).
    if (pairs < cStride) {
      const last0 = (y0 * width + width - 1) * 3;
      const last1 = hasSecond ? last0 + width * 3 : last0;
      const cb0 = rgbToCb(data[last0], data[last0 + 1], data[last0 + 2]);
      const cr0 = rgbToCr(data[last0], data[last0 + 1], data[last0 + 2]);
      const cb1 = rgbToCb(data[last1], data[last1 + 1], data[last1 + 2]);
      const cr1 = rgbToCr(data[last1], data[last1 + 1], data[last1 + 2]);
      if (width & 1) {
        // The last real column pairs with its own copy.
        y[d0] = rgbToY(data[last0], data[last0 + 1], data[last0 + 2]);
        if (hasSecond) y[d1] = rgbToY(data[last1], data[last1 + 1], data[last1 + 2]);
      }
      // Both source columns of every remaining chroma sample are clamped to the last column.
      for (let cx = pairs; cx < cStride; cx++, c++) {
        const bias = 1 + (cx & 1);
        cb[c] = (2 * cb0 + 2 * cb1 + bias) >> 2;
        cr[c] = (2 * cr0 + 2 * cr1 + bias) >> 2;
      }
      const rowY0 = y0 * yStride;
      y.fill(y[rowY0 + width - 1], rowY0 + width, rowY0 + yStride);
      if (hasSecond) {
        const rowY1 = rowY0 + yStride;
        y.fill(y[rowY1 + width - 1], rowY1 + width, rowY1 + yStride);
      }
    }
  }
  replicateRowsDown(y, yStride, height, yRows);
  replicateRowsDown(cb, cStride, chromaRows, cRows);
  replicateRowsDown(cr, cStride, chromaRows, cRows);
}
