/**
 * Baseline Huffman entropy coding of quantised DCT coefficients (T.81 F.1.2: DC differences
 * F.1.2.1, AC run/size coding F.1.2.2) with restart intervals (F.1.2.3, B.2.1): at the start of
 * every interval after the first the bit buffer is padded with 1-bits, an RSTm marker is written
 * (m cycling 0..7) and the DC predictions restart from 0. Behaviour matches libjpeg's jchuff.c
 * (encode_mcu_huff, emit_restart, flush_bits); the segment ends padded, without EOI.
 */
import { CodecError } from '../errors.js';
import { BitWriter } from './bit-writer.js';
import type { CoefficientImage, JpegTables, ScanComponent } from './frame.js';
import { Marker } from './markers.js';
import { computeNonzeroMasks, type NonzeroMasks } from './quantize.js';
import { deriveHuffmanCodes, ZIGZAG, type HuffmanSpec } from './tables.js';

/** EHUFCO/EHUFSI of T.81 C.2, as typed arrays indexed by symbol (size 0 = symbol absent). */
export interface HuffmanEncodeTable {
  readonly code: Int32Array;
  readonly size: Int32Array;
}

export function deriveEncodeTable(spec: HuffmanSpec): HuffmanEncodeTable {
  let total = 0;
  for (let i = 0; i < 16; i++) total += spec.bits[i];
  if (spec.bits.length !== 16 || total !== spec.values.length || total > 256) {
    throw new CodecError('invalid-argument', 'Huffman table: BITS does not match HUFFVAL');
  }
  const derived = deriveHuffmanCodes(spec);
  return { code: Int32Array.from(derived.code), size: Int32Array.from(derived.size) };
}

/** Restart intervals are a 16-bit field of DRI (T.81 B.2.4.4). */
export const MAX_RESTART_INTERVAL = 65535;

/** Worst case output bytes for one block: 64 symbols of <= 27 bits, every byte stuffed. */
const MAX_BYTES_PER_BLOCK = 2 * Math.ceil((64 * 27) / 8);

const ZIGZAG_ORDER = Int32Array.from(ZIGZAG);

interface ScanPlan {
  readonly planes: Int16Array[];
  readonly masks: NonzeroMasks[];
  readonly dc: HuffmanEncodeTable[];
  readonly ac: HuffmanEncodeTable[];
  /** Per scan component: blocks in one MCU horizontally and vertically, and the plane stride. */
  readonly h: number[];
  readonly v: number[];
  readonly blocksPerLine: number[];
  readonly mcusWide: number;
  readonly mcusHigh: number;
  readonly blocksPerMcu: number;
}

/**
 * Entropy coder with derived tables cached per table set; reuse one instance (and its output
 * buffer) across images.
 */
export class ScanEncoder {
  private readonly writer: BitWriter;
  private readonly dcTables: (HuffmanEncodeTable | undefined)[];
  private readonly acTables: (HuffmanEncodeTable | undefined)[];
  /** Scratch masks for planes that come without them, by component index. */
  private scratchMasks: NonzeroMasks[] = [];

  constructor(tables: JpegTables, initialCapacity = 1 << 16) {
    this.writer = new BitWriter(initialCapacity);
    this.dcTables = tables.dcHuffman.map((s) =>
      s === undefined ? undefined : deriveEncodeTable(s),
    );
    this.acTables = tables.acHuffman.map((s) =>
      s === undefined ? undefined : deriveEncodeTable(s),
    );
  }

  /**
   * Codes the scan into the internal buffer and returns a view of it, valid until the next call.
   * `masks[c]`, when given, must describe the nonzero AC coefficients of plane c as quantizeBlock
   * records them; otherwise they are computed here.
   */
  encode(
    coefficients: CoefficientImage,
    scan: readonly ScanComponent[],
    restartInterval: number,
    masks?: readonly (NonzeroMasks | undefined)[],
  ): Uint8Array {
    if (
      !Number.isInteger(restartInterval) ||
      restartInterval < 0 ||
      restartInterval > MAX_RESTART_INTERVAL
    ) {
      throw new CodecError(
        'invalid-argument',
        `restart interval must be an integer in 0..${MAX_RESTART_INTERVAL}, got ${restartInterval}`,
      );
    }
    const plan = this.plan(coefficients, scan, masks);
    const w = this.writer;
    w.reset();
    const n = plan.planes.length;
    const preds = new Int32Array(n);
    const { planes, dc, ac, h, v, blocksPerLine, mcusWide, mcusHigh } = plan;
    const planeMasks = plan.masks;
    const reserve = plan.blocksPerMcu * MAX_BYTES_PER_BLOCK + 4;
    let restartsToGo = restartInterval;
    let restartNum = 0;
    for (let my = 0; my < mcusHigh; my++) {
      for (let mx = 0; mx < mcusWide; mx++) {
        if (restartInterval !== 0) {
          if (restartsToGo === 0) {
            w.flush();
            w.reserve(2);
            w.marker(Marker.RST0 + restartNum);
            restartNum = (restartNum + 1) & 7;
            preds.fill(0);
            restartsToGo = restartInterval;
          }
          restartsToGo--;
        }
        w.reserve(reserve);
        for (let c = 0; c < n; c++) {
          const hc = h[c];
          const vc = v[c];
          const line = blocksPerLine[c];
          const plane = planes[c];
          const mask = planeMasks[c];
          const dcTable = dc[c];
          const acTable = ac[c];
          let pred = preds[c];
          for (let y = 0; y < vc; y++) {
            let block = (my * vc + y) * line + mx * hc;
            for (let x = 0; x < hc; x++, block++) {
              pred = encodeBlock(w, plane, block, mask, pred, dcTable, acTable);
            }
          }
          preds[c] = pred;
        }
      }
    }
    w.flush();
    return w.view();
  }

  private plan(
    coefficients: CoefficientImage,
    scan: readonly ScanComponent[],
    givenMasks: readonly (NonzeroMasks | undefined)[] | undefined,
  ): ScanPlan {
    const { frame, geometry } = coefficients;
    if (scan.length < 1 || scan.length > 4) {
      throw new CodecError('invalid-argument', `a scan has 1..4 components, not ${scan.length}`);
    }
    const planes: Int16Array[] = [];
    const masks: NonzeroMasks[] = [];
    const dc: HuffmanEncodeTable[] = [];
    const ac: HuffmanEncodeTable[] = [];
    const h: number[] = [];
    const v: number[] = [];
    const blocksPerLine: number[] = [];
    let blocksPerMcu = 0;
    for (const sc of scan) {
      const comp = frame.components[sc.componentIndex];
      const g = geometry.components[sc.componentIndex];
      const plane = coefficients.planes[sc.componentIndex];
      if (comp === undefined || g === undefined || plane === undefined) {
        throw new CodecError(
          'invalid-argument',
          `scan names component ${sc.componentIndex}, which the frame lacks`,
        );
      }
      if (plane.length !== g.paddedBlocksWide * g.paddedBlocksHigh * 64) {
        throw new CodecError(
          'invalid-argument',
          `coefficient plane ${sc.componentIndex} has the wrong size`,
        );
      }
      const dcTable = this.dcTables[sc.dcTable];
      const acTable = this.acTables[sc.acTable];
      if (dcTable === undefined || acTable === undefined) {
        throw new CodecError(
          'invalid-argument',
          `scan component ${sc.componentIndex} uses an undefined Huffman table (DC ${sc.dcTable}, AC ${sc.acTable})`,
        );
      }
      planes.push(plane);
      masks.push(this.masksFor(sc.componentIndex, plane, givenMasks?.[sc.componentIndex]));
      dc.push(dcTable);
      ac.push(acTable);
      blocksPerLine.push(g.paddedBlocksWide);
      // A single-component scan is non-interleaved: one block per MCU over the component's
      // own block grid (T.81 A.2.2); otherwise MCUs hold H x V blocks (A.2.3).
      h.push(scan.length === 1 ? 1 : comp.h);
      v.push(scan.length === 1 ? 1 : comp.v);
      blocksPerMcu += scan.length === 1 ? 1 : comp.h * comp.v;
    }
    if (blocksPerMcu > 10) {
      throw new CodecError(
        'invalid-argument',
        `an MCU holds at most 10 blocks, not ${blocksPerMcu}`,
      );
    }
    let mcusWide = geometry.mcusWide;
    let mcusHigh = geometry.mcusHigh;
    if (scan.length === 1) {
      const g = geometry.components[scan[0].componentIndex];
      mcusWide = g.blocksWide;
      mcusHigh = g.blocksHigh;
    }
    return { planes, masks, dc, ac, h, v, blocksPerLine, mcusWide, mcusHigh, blocksPerMcu };
  }

  private masksFor(
    component: number,
    plane: Int16Array,
    given: NonzeroMasks | undefined,
  ): NonzeroMasks {
    const words = plane.length >> 5;
    if (given !== undefined) {
      if (given.length !== words) {
        throw new CodecError(
          'invalid-argument',
          `nonzero masks for component ${component} have the wrong size`,
        );
      }
      return given;
    }
    let scratch = this.scratchMasks[component];
    if (scratch === undefined || scratch.length !== words) {
      scratch = new Int32Array(words);
      this.scratchMasks[component] = scratch;
    }
    computeNonzeroMasks(plane, scratch);
    return scratch;
  }
}

function missingSymbol(kind: string, symbol: number): CodecError {
  return new CodecError(
    'invalid-argument',
    `${kind} Huffman table has no code for symbol 0x${symbol.toString(16)} (coefficient out of range for this table)`,
  );
}

/**
 * Codes one block (F.1.2.1-F.1.2.2) and returns its DC value, the next prediction. AC
 * coefficients are visited through the block's nonzero mask, so runs of zeros cost nothing.
 */
function encodeBlock(
  w: BitWriter,
  plane: Int16Array,
  block: number,
  masks: NonzeroMasks,
  pred: number,
  dc: HuffmanEncodeTable,
  ac: HuffmanEncodeTable,
): number {
  const offset = block << 6;
  const dcValue = plane[offset];
  const diff = dcValue - pred;
  if (diff === 0) {
    const s = dc.size[0];
    if (s === 0) throw missingSymbol('DC', 0);
    w.put(dc.code[0], s);
  } else {
    const sign = diff >> 31;
    const nbits = 32 - Math.clz32((diff ^ sign) - sign);
    const s = nbits < 16 ? dc.size[nbits] : 0;
    if (s === 0) throw missingSymbol('DC', nbits);
    // Negative values are sent as diff - 1 in nbits bits (the one's complement, F.1.2.1).
    const extra = (diff + sign) & ((1 << nbits) - 1);
    w.put((dc.code[nbits] << nbits) | extra, s + nbits);
  }

  const acCode = ac.code;
  const acSize = ac.size;
  let last = 0; // zig-zag index of the last coded coefficient
  for (let word = 0; word < 2; word++) {
    let bits = masks[2 * block + word];
    const base = word << 5;
    while (bits !== 0) {
      const z = Math.clz32(bits);
      bits ^= 0x80000000 >>> z;
      const k = base + z;
      let run = k - last - 1;
      last = k;
      while (run > 15) {
        const s = acSize[0xf0];
        if (s === 0) throw missingSymbol('AC', 0xf0);
        w.put(acCode[0xf0], s);
        run -= 16;
      }
      const value = plane[offset + ZIGZAG_ORDER[k]];
      // Branch-free: coefficient signs are unpredictable. sign is 0 or -1, value + sign is the
      // value minus one for negatives (the one's complement of F.1.2.1 once masked).
      const sign = value >> 31;
      const nbits = 32 - Math.clz32((value ^ sign) - sign);
      const symbol = (run << 4) | nbits;
      const s = nbits < 16 ? acSize[symbol] : 0;
      if (s === 0) throw missingSymbol('AC', symbol);
      const extra = (value + sign) & ((1 << nbits) - 1);
      w.put((acCode[symbol] << nbits) | extra, s + nbits);
    }
  }
  if (last !== 63) {
    const s = acSize[0];
    if (s === 0) throw missingSymbol('AC', 0);
    w.put(acCode[0], s);
  }
  return dcValue;
}

/**
 * Entropy-coded segment of one scan: stuffed bytes, RSTn markers between restart intervals,
 * final 1-bit padding; no EOI. `restartInterval` is in MCUs, 0 for none.
 */
export function encodeScanData(
  coefficients: CoefficientImage,
  scan: readonly ScanComponent[],
  tables: JpegTables,
  restartInterval: number,
): Uint8Array {
  return new ScanEncoder(tables).encode(coefficients, scan, restartInterval).slice();
}
