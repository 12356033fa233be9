/**
 * Baseline/extended sequential Huffman JPEG -> RGB pixels, reproducing `djpeg -dct int`
 * (libjpeg-turbo 2.1 defaults) exactly: the validator's entropy decoding (scan-decoder.ts),
 * then dequantisation and the islow IDCT (idct.ts), fancy upsampling (upsample.ts) and the
 * fixed-point colour conversion (ycc-to-rgb.ts).
 *
 * The decoder is strict about the pixels: if any MCU is damaged or missing it throws a
 * CodecError naming the first problem, rather than inventing pixels as djpeg does. Problems
 * that leave every MCU intact (bytes after EOI, padding bits, a missing EOI) do not stop it.
 */
import { CodecError } from '../errors.js';
import type { RgbImage } from '../image.js';
import type { CoefficientImage } from './frame.js';
import { dcOnlyValue, idctBlock, idctQuantTable } from './idct.js';
import { decodeScan, MCU_INTACT, scanLayout, type ScanDecodeResult } from './scan-decoder.js';
import { parseJpegStructure, type JpegParseOptions, type JpegStructure } from './segment-parser.js';
import { createRowUpsampler, type ComponentPlane } from './upsample.js';
import { grayRowToRgb, rgbRowToRgb, yccRowToRgb } from './ycc-to-rgb.js';

export type JpegDecodeOptions = JpegParseOptions;

/** Decode a JPEG file to RGB. Throws CodecError on any problem that affects the pixels. */
export function decodeJpeg(bytes: Uint8Array, options?: JpegDecodeOptions): RgbImage {
  const structure = parseJpegStructure(bytes, options);
  const cs = structure.colorSpace;
  if (cs !== 'grayscale' && cs !== 'ycbcr' && cs !== 'rgb') {
    throw new CodecError(
      'unsupported',
      `${structure.frame.components.length}-component (${cs}) JPEG is not supported; only greyscale, YCbCr and RGB`,
      structure.headerEnd,
    );
  }
  const { coefficients, acPresent } = decodeIntact(bytes, structure);
  return reconstructPixels(structure, coefficients, acPresent);
}

/** The quantised DCT coefficients of a JPEG file (throws like decodeJpeg on damage). */
export function decodeCoefficients(
  bytes: Uint8Array,
  options?: JpegDecodeOptions,
): CoefficientImage & { readonly structure: JpegStructure } {
  const structure = parseJpegStructure(bytes, options);
  return { ...decodeIntact(bytes, structure).coefficients, structure };
}

/** Entropy-decode the scan; throw the first problem if any MCU is damaged or missing. */
function decodeIntact(
  bytes: Uint8Array,
  structure: JpegStructure,
): { coefficients: CoefficientImage; acPresent: readonly Uint8Array[] } {
  // Every block costs at least two bits (a DC code and an EOB or a coefficient): refuse a
  // frame its data cannot cover before allocating coefficients for it.
  const layout = scanLayout(structure);
  const blocks = layout.mcuCount * layout.blocksPerMcu;
  const dataBytes = bytes.length - structure.headerEnd;
  if (blocks * 2 > dataBytes * 8) {
    throw new CodecError(
      'truncated',
      `${dataBytes} bytes of entropy-coded data cannot hold the ${blocks} blocks of a ${structure.frame.width}x${structure.frame.height} frame`,
      bytes.length,
    );
  }
  const scan = decodeScan(bytes, structure, { stopAtFirstDamage: true });
  requireIntact(scan);
  if (scan.coefficients === null || scan.acPresent === null)
    throw new Error('coefficients not stored');
  return { coefficients: scan.coefficients, acPresent: scan.acPresent };
}

function requireIntact(scan: ScanDecodeResult): void {
  const status = scan.mcuStatus;
  let bad = -1;
  for (let m = 0; m < status.length; m++) {
    if (status[m] !== MCU_INTACT) {
      bad = m;
      break;
    }
  }
  if (bad < 0) return;
  const harmless = new Set(['trailing-data', 'bad-padding']);
  const p = scan.problems.find((q) => !harmless.has(q.kind));
  if (p === undefined) throw new CodecError('corrupt', `MCU ${bad} could not be decoded`);
  throw new CodecError(
    p.kind === 'truncated' ? 'truncated' : 'corrupt',
    `corrupt JPEG data: ${p.message}`,
    p.offset,
  );
}

/**
 * Pixels from coefficients: per component, IDCT of the blocks that cover the image, then
 * upsampling and colour conversion one output row at a time.
 */
export function reconstructPixels(
  structure: JpegStructure,
  coefficients: CoefficientImage,
  acPresent?: readonly Uint8Array[],
): RgbImage {
  const { frame, tables } = structure;
  const { width, height } = frame;
  const geometry = coefficients.geometry;
  const upsamplers = frame.components.map((c, ci) => {
    const g = geometry.components[ci];
    const quant = tables.quant[c.quantTable];
    if (quant === undefined)
      throw new CodecError('corrupt', `quantisation table ${c.quantTable} is not defined`);
    const stride = g.blocksWide * 8;
    const samples = new Uint8Array(stride * g.blocksHigh * 8);
    inverseTransform(
      coefficients.planes[ci],
      acPresent?.[ci],
      g.blocksWide,
      g.blocksHigh,
      g.paddedBlocksWide,
      idctQuantTable(quant),
      samples,
      stride,
    );
    const plane: ComponentPlane = {
      data: samples,
      stride,
      // jdinput.c: downsampled_width = ceil(image_width * h / max_h), likewise for height.
      width: Math.ceil((width * c.h) / geometry.hMax),
      height: Math.ceil((height * c.v) / geometry.vMax),
    };
    return createRowUpsampler(plane, geometry.hMax / c.h, geometry.vMax / c.v, width);
  });
  const out = new Uint8Array(width * height * 3);
  const rowBytes = width * 3;
  if (structure.colorSpace === 'grayscale') {
    const [g] = upsamplers;
    for (let y = 0; y < height; y++) grayRowToRgb(g.data, g.row(y), out, y * rowBytes, width);
  } else {
    const [a, b, c] = upsamplers;
    const convert = structure.colorSpace === 'rgb' ? rgbRowToRgb : yccRowToRgb;
    for (let y = 0; y < height; y++) {
      convert(a.data, a.row(y), b.data, b.row(y), c.data, c.row(y), out, y * rowBytes, width);
    }
  }
  return { width, height, data: out };
}

function inverseTransform(
  coef: Int16Array,
  acPresent: Uint8Array | undefined,
  blocksWide: number,
  blocksHigh: number,
  paddedBlocksWide: number,
  q: Int32Array,
  out: Uint8Array,
  stride: number,
): void {
  const q0 = q[0];
  for (let by = 0; by < blocksHigh; by++) {
    for (let bx = 0; bx < blocksWide; bx++) {
      const blk = by * paddedBlocksWide + bx;
      const o = by * 8 * stride + bx * 8;
      if (acPresent !== undefined && acPresent[blk] === 0) {
        // All AC coefficients zero: the IDCT's zero shortcuts give one flat value.
        const v = dcOnlyValue(coef[blk * 64], q0);
        for (let r = 0, p = o; r < 8; r++, p += stride) {
          out[p] = v;
          out[p + 1] = v;
          out[p + 2] = v;
          out[p + 3] = v;
          out[p + 4] = v;
          out[p + 5] = v;
          out[p + 6] = v;
          out[p + 7] = v;
        }
      } else {
        idctBlock(coef, blk * 64, q, out, o, stride);
      }
    }
  }
}
