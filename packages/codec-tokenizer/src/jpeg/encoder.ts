/**
 * The canonical JPEG encoder: baseline sequential, 8-bit, YCbCr, Annex K Huffman tables,
 * libjpeg-scaled Annex K quantisation tables, islow DCT. For an RGB image the output is
 * byte-identical to
 *
 *   cjpeg -quality Q -sample 2x2 -restart RB -dct int -baseline   (4:2:0)
 *   cjpeg -quality Q -sample 1x1 -restart RB -dct int -baseline   (4:4:4)
 *
 * Pipeline (libjpeg module in brackets): colour conversion [jccolor], edge expansion and
 * downsampling [jcprepct, jcsample], FDCT + quantisation [jfdctint, jcdctmgr], dummy edge blocks
 * [jccoefct], Huffman coding with restarts [jchuff], headers [jcmarker].
 */
import { CodecError } from '../errors.js';
import type { RgbImage } from '../image.js';
import { convertRgbToYccPlanes } from './color-convert.js';
import { convertAndDownsample420, downsamplePlane } from './downsample.js';
import { MAX_RESTART_INTERVAL, ScanEncoder } from './entropy-encoder.js';
import { forwardDctBlock } from './fdct.js';
import {
  createCoefficientImage,
  frameGeometry,
  type CoefficientImage,
  type FrameHeader,
  type JpegTables,
  type ScanComponent,
} from './frame.js';
import { writeJpegHeaders } from './header-writer.js';
import { Marker } from './markers.js';
import {
  computeQuantDivisors,
  quantizeBlock,
  type NonzeroMasks,
  type QuantDivisors,
} from './quantize.js';
import {
  CHROMINANCE_AC_K6,
  CHROMINANCE_DC_K4,
  CHROMINANCE_QUANT_K2,
  LUMINANCE_AC_K5,
  LUMINANCE_DC_K3,
  LUMINANCE_QUANT_K1,
  scaleQuantTable,
} from './tables.js';

export type ChromaSubsampling = '4:2:0' | '4:4:4';

export interface JpegEncodeOptions {
  /** libjpeg quality, integer 1..100. */
  readonly quality: number;
  /** Restart interval in MCUs; 0 = no restart markers. Default 1 (JPEG-LM's choice). */
  readonly restartInterval?: number;
  /** Chroma subsampling; default '4:2:0'. */
  readonly subsampling?: ChromaSubsampling;
}

/** Largest width or height a SOF segment can carry (T.81 B.2.2). */
export const MAX_JPEG_DIMENSION = 65535;

/** Component ids 1, 2, 3 as libjpeg writes them for YCbCr (jcparam.c jpeg_set_colorspace). */
export function createCanonicalFrame(
  width: number,
  height: number,
  subsampling: ChromaSubsampling = '4:2:0',
): FrameHeader {
  checkDimensions(width, height);
  const lumaFactor = subsampling === '4:2:0' ? 2 : 1;
  return {
    sofMarker: Marker.SOF0,
    precision: 8,
    width,
    height,
    components: [
      { id: 1, h: lumaFactor, v: lumaFactor, quantTable: 0 },
      { id: 2, h: 1, v: 1, quantTable: 1 },
      { id: 3, h: 1, v: 1, quantTable: 1 },
    ],
  };
}

/** Y with DC/AC tables 0; Cb and Cr with DC/AC tables 1, interleaved in one scan. */
export const CANONICAL_SCAN: readonly ScanComponent[] = Object.freeze([
  Object.freeze({ componentIndex: 0, dcTable: 0, acTable: 0 }),
  Object.freeze({ componentIndex: 1, dcTable: 1, acTable: 1 }),
  Object.freeze({ componentIndex: 2, dcTable: 1, acTable: 1 }),
]);

/** Annex K tables, quantisation scaled for `quality` as libjpeg does with force_baseline. */
export function createStandardTables(quality: number): JpegTables {
  checkQuality(quality);
  return {
    quant: [
      scaleQuantTable(LUMINANCE_QUANT_K1, quality),
      scaleQuantTable(CHROMINANCE_QUANT_K2, quality),
    ],
    dcHuffman: [LUMINANCE_DC_K3, CHROMINANCE_DC_K4],
    acHuffman: [LUMINANCE_AC_K5, CHROMINANCE_AC_K6],
  };
}

function checkQuality(quality: number): void {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new CodecError(
      'invalid-argument',
      `quality must be an integer in 1..100, got ${quality}`,
    );
  }
}

function checkDimensions(width: number, height: number): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_JPEG_DIMENSION) {
      throw new CodecError(
        'invalid-argument',
        `image ${name} must be an integer in 1..${MAX_JPEG_DIMENSION}, got ${v}`,
      );
    }
  }
}

function checkImage(image: RgbImage): void {
  checkDimensions(image.width, image.height);
  if (!(image.data instanceof Uint8Array) || image.data.length !== image.width * image.height * 3) {
    throw new CodecError(
      'invalid-argument',
      `RGB image data must hold ${image.width}x${image.height}x3 bytes, got ${image.data?.length}`,
    );
  }
}

/** Sample planes one frame size needs, kept between images of that size. */
interface TransformBuffers {
  /** The frame these were made for, and its size/sampling key for other frame objects. */
  readonly frame: FrameHeader;
  readonly frameKey: string;
  /** 4:2:0 with Y at 2x2: colour conversion and downsampling fused (no full-size chroma). */
  readonly fused420: boolean;
  /** Full-resolution colour-converted planes (edge-replicated), stride x rows. */
  readonly full: Uint8Array[];
  readonly stride: number;
  readonly rows: number;
  /** Per component: its sample plane (a full plane for full-size components) and stride. */
  readonly samples: Uint8Array[];
  readonly sampleStride: number[];
  readonly workspace: Int32Array;
}

function frameKey(frame: FrameHeader): string {
  return `${frame.width}x${frame.height}:${frame.components.map((c) => `${c.h}${c.v}`).join(',')}`;
}

/**
 * Colour conversion, downsampling, FDCT and quantisation into reusable buffers.
 */
class ForwardTransformer {
  private buffers: TransformBuffers | undefined;

  transform(
    image: RgbImage,
    frame: FrameHeader,
    divisors: readonly QuantDivisors[],
    out: CoefficientImage,
    masks: readonly NonzeroMasks[],
  ): void {
    const b = this.prepare(frame);
    const { geometry } = out;
    const n = frame.components.length;
    if (b.fused420) {
      convertAndDownsample420(image, {
        y: b.samples[0],
        yStride: b.sampleStride[0],
        yRows: b.rows,
        cb: b.samples[1],
        cr: b.samples[2],
        cStride: b.sampleStride[1],
        cRows: b.samples[1].length / b.sampleStride[1],
      });
    } else {
      convertRgbToYccPlanes(
        image,
        b.full[0],
        n === 3 ? b.full[1] : undefined,
        n === 3 ? b.full[2] : undefined,
        b.stride,
        b.rows,
      );
    }
    for (let c = 0; c < n; c++) {
      const comp = frame.components[c];
      const g = geometry.components[c];
      if (!b.fused420 && b.samples[c] !== b.full[c]) {
        const hFactor = geometry.hMax / comp.h;
        const vFactor = geometry.vMax / comp.v;
        downsamplePlane({
          src: b.full[c],
          srcStride: b.stride,
          dst: b.samples[c],
          dstStride: b.sampleStride[c],
          outCols: g.blocksWide * 8,
          computedRows: Math.ceil(frame.height / geometry.vMax) * comp.v,
          outRows: b.samples[c].length / b.sampleStride[c],
          hFactor,
          vFactor,
        });
      }
      transformComponent(
        b.samples[c],
        b.sampleStride[c],
        g.blocksWide,
        g.blocksHigh,
        g.paddedBlocksWide,
        g.paddedBlocksHigh,
        comp.h,
        divisors[comp.quantTable],
        b.workspace,
        out.planes[c],
        masks[c],
      );
    }
  }

  private prepare(frame: FrameHeader): TransformBuffers {
    const cached = this.buffers;
    if (cached !== undefined && cached.frame === frame) return cached;
    const key = frameKey(frame);
    if (cached !== undefined && cached.frameKey === key) {
      this.buffers = { ...cached, frame };
      return this.buffers;
    }
    const n = frame.components.length;
    if (frame.precision !== 8) {
      throw new CodecError(
        'unsupported',
        `sample precision ${frame.precision}: only 8-bit is supported`,
      );
    }
    if (n !== 1 && n !== 3) {
      throw new CodecError(
        'unsupported',
        `an RGB image maps to 1 (Y) or 3 (YCbCr) components, not ${n}`,
      );
    }
    const geometry = frameGeometry(frame);
    const stride = geometry.mcusWide * 8 * geometry.hMax;
    const rows = geometry.mcusHigh * 8 * geometry.vMax;
    const [c0, c1, c2] = frame.components;
    const fused420 =
      n === 3 && c0.h === 2 && c0.v === 2 && c1.h === 1 && c1.v === 1 && c2.h === 1 && c2.v === 1;
    const full: Uint8Array[] = [];
    const samples: Uint8Array[] = [];
    const sampleStride: number[] = [];
    for (let c = 0; c < n; c++) {
      const comp = frame.components[c];
      const g = geometry.components[c];
      if (geometry.hMax % comp.h !== 0 || geometry.vMax % comp.v !== 0) {
        throw new CodecError(
          'unsupported',
          `sampling factors ${comp.h}x${comp.v} do not divide the maximum ${geometry.hMax}x${geometry.vMax}`,
        );
      }
      if (c === 0 || !fused420) full.push(new Uint8Array(stride * rows));
      if (comp.h === geometry.hMax && comp.v === geometry.vMax) {
        samples.push(full[c]);
        sampleStride.push(stride);
      } else {
        const s = g.blocksWide * 8;
        samples.push(new Uint8Array(s * geometry.mcusHigh * 8 * comp.v));
        sampleStride.push(s);
      }
    }
    this.buffers = {
      frame,
      frameKey: key,
      fused420,
      full,
      stride,
      rows,
      samples,
      sampleStride,
      workspace: new Int32Array(64),
    };
    return this.buffers;
  }
}

/**
 * FDCT and quantisation of every real block of one component, then libjpeg's dummy blocks
 * (jccoefct.c compress_data) where the MCU grid overhangs the component: AC all zero, DC equal
 * to the block on the left (right edge) or to the last block of the MCU row above (bottom edge).
 */
function transformComponent(
  samples: Uint8Array,
  stride: number,
  blocksWide: number,
  blocksHigh: number,
  paddedWide: number,
  paddedHigh: number,
  h: number,
  divisors: QuantDivisors,
  workspace: Int32Array,
  coefs: Int16Array,
  masks: NonzeroMasks,
): void {
  for (let by = 0; by < blocksHigh; by++) {
    const rowOffset = by * 8 * stride;
    let block = by * paddedWide;
    for (let bx = 0; bx < blocksWide; bx++, block++) {
      forwardDctBlock(samples, rowOffset + bx * 8, stride, workspace);
      quantizeBlock(workspace, divisors, coefs, block << 6, masks, block);
    }
    for (let bx = blocksWide; bx < paddedWide; bx++, block++) {
      const o = block << 6;
      coefs.fill(0, o, o + 64);
      coefs[o] = coefs[o - 64];
      masks[2 * block] = 0;
      masks[2 * block + 1] = 0;
    }
  }
  for (let by = blocksHigh; by < paddedHigh; by++) {
    const above = (by - 1) * paddedWide;
    for (let bx = 0; bx < paddedWide; bx++) {
      const block = by * paddedWide + bx;
      const o = block << 6;
      coefs.fill(0, o, o + 64);
      masks[2 * block] = 0;
      masks[2 * block + 1] = 0;
      // MCU_buffer[blkn - 1]: the last block of the same MCU's previous block row.
      const mcuLast = bx - (bx % h) + h - 1;
      coefs[o] = coefs[(above + mcuLast) * 64];
    }
  }
}

function checkFrameForImage(image: RgbImage, frame: FrameHeader): void {
  checkImage(image);
  if (frame.width !== image.width || frame.height !== image.height) {
    throw new CodecError(
      'invalid-argument',
      `frame is ${frame.width}x${frame.height} but the image is ${image.width}x${image.height}`,
    );
  }
}

/**
 * Colour conversion, downsampling, FDCT and quantisation of `image` for `frame`, with
 * `quant[t]` the natural-order table for Tq = t. Components 0..2 are Y, Cb, Cr (or Y alone
 * for a one-component frame).
 */
export function forwardTransform(
  image: RgbImage,
  frame: FrameHeader,
  quant: readonly Uint16Array[],
): CoefficientImage {
  checkFrameForImage(image, frame);
  const divisors = quant.map((q) =>
    q === undefined ? new Int32Array(0) : computeQuantDivisors(q),
  );
  for (const c of frame.components) {
    if (divisors[c.quantTable] === undefined || divisors[c.quantTable].length === 0) {
      throw new CodecError(
        'invalid-argument',
        `component ${c.id} uses undefined quantisation table ${c.quantTable}`,
      );
    }
  }
  const out = createCoefficientImage(frame);
  const masks = out.planes.map((p) => new Int32Array(p.length >> 5));
  new ForwardTransformer().transform(image, frame, divisors, out, masks);
  return out;
}

interface SizeState {
  readonly width: number;
  readonly height: number;
  readonly frame: FrameHeader;
  readonly header: Uint8Array;
  readonly coefficients: CoefficientImage;
  readonly masks: NonzeroMasks[];
}

/**
 * Reusable encoder: tables, divisors, Huffman codes, sample planes and the output buffer are
 * built once (planes once per image size) and reused for every image.
 */
export class JpegEncoder {
  readonly tables: JpegTables;
  readonly quality: number;
  readonly restartInterval: number;
  readonly subsampling: ChromaSubsampling;
  private readonly divisors: QuantDivisors[];
  private readonly scanEncoder: ScanEncoder;
  private readonly transformer = new ForwardTransformer();
  private state: SizeState | undefined;

  constructor(options: JpegEncodeOptions) {
    if (options === null || typeof options !== 'object') {
      throw new CodecError('invalid-argument', 'encoder options must be an object');
    }
    checkQuality(options.quality);
    const restartInterval = options.restartInterval ?? 1;
    if (
      !Number.isInteger(restartInterval) ||
      restartInterval < 0 ||
      restartInterval > MAX_RESTART_INTERVAL
    ) {
      throw new CodecError(
        'invalid-argument',
        `restart interval must be an integer in 0..${MAX_RESTART_INTERVAL} MCUs, got ${restartInterval}`,
      );
    }
    const subsampling = options.subsampling ?? '4:2:0';
    if (subsampling !== '4:2:0' && subsampling !== '4:4:4') {
      throw new CodecError(
        'invalid-argument',
        `subsampling must be '4:2:0' or '4:4:4', got ${String(subsampling)}`,
      );
    }
    this.quality = options.quality;
    this.restartInterval = restartInterval;
    this.subsampling = subsampling;
    this.tables = createStandardTables(options.quality);
    this.divisors = this.tables.quant.map((q) => computeQuantDivisors(q as Uint16Array));
    this.scanEncoder = new ScanEncoder(this.tables);
  }

  /** The canonical JPEG file for `image`. */
  encode(image: RgbImage): Uint8Array {
    checkImage(image);
    const state = this.stateFor(image.width, image.height);
    this.transformer.transform(image, state.frame, this.divisors, state.coefficients, state.masks);
    const scan = this.scanEncoder.encode(
      state.coefficients,
      CANONICAL_SCAN,
      this.restartInterval,
      state.masks,
    );
    const { header } = state;
    const file = new Uint8Array(header.length + scan.length + 2);
    file.set(header, 0);
    file.set(scan, header.length);
    file[file.length - 2] = 0xff;
    file[file.length - 1] = Marker.EOI;
    return file;
  }

  /** SOI .. SOS for images of this size: the part of every file that is fixed by the options. */
  headerFor(width: number, height: number): Uint8Array {
    return this.stateFor(width, height).header.slice();
  }

  private stateFor(width: number, height: number): SizeState {
    const s = this.state;
    if (s !== undefined && s.width === width && s.height === height) return s;
    const frame = createCanonicalFrame(width, height, this.subsampling);
    const coefficients = createCoefficientImage(frame);
    this.state = {
      width,
      height,
      frame,
      header: writeJpegHeaders(frame, this.tables, CANONICAL_SCAN, this.restartInterval),
      coefficients,
      masks: coefficients.planes.map((p) => new Int32Array(p.length >> 5)),
    };
    return this.state;
  }
}

/** One-shot canonical encode; prefer a reused JpegEncoder for many images. */
export function encodeJpeg(image: RgbImage, options: JpegEncodeOptions): Uint8Array {
  return new JpegEncoder(options).encode(image);
}
