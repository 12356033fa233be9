/**
 * Frame and scan structure shared by the encoder, decoder, validator and repairer
 * (T.81 B.2.2 frame header, B.2.3 scan header, A.2 MCU geometry).
 */
import type { HuffmanSpec } from './tables.js';

/** One component of the frame header (T.81 B.2.2: Ci, Hi, Vi, Tqi). */
export interface FrameComponent {
  readonly id: number;
  readonly h: number; // horizontal sampling factor 1..4
  readonly v: number; // vertical sampling factor 1..4
  readonly quantTable: number; // Tq, 0..3
}

export interface FrameHeader {
  /** SOF marker code, e.g. 0xc0 for baseline. */
  readonly sofMarker: number;
  readonly precision: number; // P, bits per sample (8 for baseline)
  readonly width: number; // X
  readonly height: number; // Y (a DNL-defined height is not supported)
  readonly components: readonly FrameComponent[];
}

/** One component of a scan header (T.81 B.2.3: Csj, Tdj, Taj), as an index into the frame. */
export interface ScanComponent {
  readonly componentIndex: number;
  readonly dcTable: number;
  readonly acTable: number;
}

/** Geometry of one component, in 8x8 blocks (T.81 A.1.1, A.2.3). */
export interface ComponentGeometry {
  /** Blocks per row actually covering the component's samples: ceil(ceil(X*H/Hmax)/8). */
  readonly blocksWide: number;
  readonly blocksHigh: number;
  /** Blocks per row and column padded to whole MCUs (what an interleaved scan codes). */
  readonly paddedBlocksWide: number;
  readonly paddedBlocksHigh: number;
}

export interface FrameGeometry {
  readonly hMax: number;
  readonly vMax: number;
  /** MCUs per row and per column of an interleaved scan. */
  readonly mcusWide: number;
  readonly mcusHigh: number;
  readonly mcuCount: number;
  /** Blocks in one MCU, summed over components (H*V each). */
  readonly blocksPerMcu: number;
  readonly components: readonly ComponentGeometry[];
}

export function frameGeometry(frame: FrameHeader): FrameGeometry {
  let hMax = 1;
  let vMax = 1;
  for (const c of frame.components) {
    hMax = Math.max(hMax, c.h);
    vMax = Math.max(vMax, c.v);
  }
  const mcusWide = Math.ceil(frame.width / (8 * hMax));
  const mcusHigh = Math.ceil(frame.height / (8 * vMax));
  let blocksPerMcu = 0;
  const components = frame.components.map((c) => {
    blocksPerMcu += c.h * c.v;
    return {
      blocksWide: Math.ceil(Math.ceil((frame.width * c.h) / hMax) / 8),
      blocksHigh: Math.ceil(Math.ceil((frame.height * c.v) / vMax) / 8),
      paddedBlocksWide: mcusWide * c.h,
      paddedBlocksHigh: mcusHigh * c.v,
    };
  });
  return {
    hMax,
    vMax,
    mcusWide,
    mcusHigh,
    mcuCount: mcusWide * mcusHigh,
    blocksPerMcu,
    components,
  };
}

/**
 * Quantised DCT coefficients of a whole frame: per component an Int16Array of
 * paddedBlocksWide * paddedBlocksHigh blocks, each 64 coefficients in natural (row-major) order,
 * blocks stored row by row. This is the meeting point of the entropy coders: the encoder
 * produces it and entropy-codes it; the decoder and validator entropy-decode into it; the
 * repairer edits it and hands it back to the entropy encoder.
 */
export interface CoefficientImage {
  readonly frame: FrameHeader;
  readonly geometry: FrameGeometry;
  readonly planes: readonly Int16Array[];
}

export function createCoefficientImage(frame: FrameHeader): CoefficientImage {
  const geometry = frameGeometry(frame);
  const planes = geometry.components.map(
    (g) => new Int16Array(g.paddedBlocksWide * g.paddedBlocksHigh * 64),
  );
  return { frame, geometry, planes };
}

/** Huffman and quantisation tables as carried by DHT/DQT segments, indexed by table id 0..3. */
export interface JpegTables {
  /** Quantisation tables in natural order (values 1..65535), or undefined if not defined. */
  readonly quant: readonly (Uint16Array | undefined)[];
  readonly dcHuffman: readonly (HuffmanSpec | undefined)[];
  readonly acHuffman: readonly (HuffmanSpec | undefined)[];
}
