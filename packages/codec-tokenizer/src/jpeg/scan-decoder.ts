/**
 * Entropy decoding of a baseline/extended sequential Huffman scan (T.81 F.2.2) into quantised
 * coefficients, checking everything a baseline encoder guarantees, and resynchronising at
 * restart markers after damage. This one mechanism serves the validator (which reports every
 * problem and the state of every MCU) and the decoder (which stops at the first damaged MCU).
 *
 * Checks per block: every Huffman code exists; DC magnitude category <= 11 and the predicted DC
 * within +-DC_LIMIT; AC symbols are EOB, ZRL or run/size with size 1..10; runs never pass
 * coefficient 63; a ZRL is followed by a non-zero coefficient. Checks per restart interval: the
 * data holds exactly the interval's MCUs, padded to a byte with 1-bits (T.81 F.1.2.3), then the
 * expected RSTm (m = interval number mod 8, T.81 B.2.1) or, after the last interval, EOI.
 *
 * MCU status: intact (decoded cleanly), damaged (its interval's data is present but the MCU
 * could not be decoded from it: from the first failing MCU to the end of the interval, or the
 * whole interval when unexplained bytes follow its MCUs), missing (no data for its interval).
 */
import { EntropyReader, findMarker, markerAt } from './bit-reader.js';
import {
  createCoefficientImage,
  frameGeometry,
  type CoefficientImage,
  type FrameGeometry,
} from './frame.js';
import { DC_LIMIT, MAX_AC_CATEGORY, MAX_DC_CATEGORY } from './grammar-tables.js';
import {
  buildDcOnlyTable,
  buildHuffmanDecodeTable,
  LOOKAHEAD_BITS,
  type HuffmanDecodeTable,
} from './huffman-decoder.js';
import { Marker, isRst } from './markers.js';
import { segmentName, type JpegStructure } from './segment-parser.js';
import { ZIGZAG, type HuffmanSpec } from './tables.js';

export type JpegProblemKind =
  | 'header' // the header (SOI..SOS) is malformed, unsupported or inconsistent
  | 'bad-huffman-code' // no code of the table matches the bits
  | 'bad-symbol' // a decoded symbol a baseline encoder never writes
  | 'coefficient-overflow' // a run past coefficient 63, or a DC value out of range
  | 'bad-stuffing' // 0xFF followed by something other than 0x00 or an expected marker
  | 'missing-rst' // two restart intervals with no RST marker between them
  | 'wrong-rst' // an RST marker with the wrong number, or one where none belongs
  | 'bad-padding' // the bits after an interval's last MCU are not all 1s
  | 'extra-data' // bytes after an interval's MCUs that are not padding
  | 'mcu-count' // an interval or the scan holds fewer or more MCUs than the frame needs
  | 'truncated' // the file ends inside the scan, or without EOI
  | 'trailing-data' // bytes after EOI
  | 'too-many-problems'; // the report stops listing problems here

export interface JpegProblem {
  /** Byte offset in the file where the problem was detected. */
  readonly offset: number;
  /** Index of the MCU concerned (raster order), or null for problems outside any MCU. */
  readonly mcu: number | null;
  readonly message: string;
  readonly kind: JpegProblemKind;
}

export const MCU_INTACT = 0;
export const MCU_DAMAGED = 1;
export const MCU_MISSING = 2;

/** Reports stop listing problems after this many (the counts stay exact). */
export const MAX_REPORTED_PROBLEMS = 10_000;

/** How the scan's MCUs are laid out (T.81 A.2). */
export interface ScanLayout {
  /** More than one component: MCUs hold H x V blocks of each; otherwise one block each. */
  readonly interleaved: boolean;
  readonly mcusWide: number;
  readonly mcusHigh: number;
  readonly mcuCount: number;
  readonly blocksPerMcu: number;
  /** MCUs per restart interval (mcuCount when the scan has no restart interval). */
  readonly mcusPerInterval: number;
  readonly intervalCount: number;
}

export function scanLayout(
  structure: JpegStructure,
  geometry: FrameGeometry = frameGeometry(structure.frame),
): ScanLayout {
  const interleaved = structure.scan.length > 1;
  let mcusWide: number;
  let mcusHigh: number;
  let blocksPerMcu = 0;
  if (interleaved) {
    mcusWide = geometry.mcusWide;
    mcusHigh = geometry.mcusHigh;
    for (const s of structure.scan) {
      const c = structure.frame.components[s.componentIndex];
      blocksPerMcu += c.h * c.v;
    }
  } else {
    // A non-interleaved scan codes only the blocks that cover the component (T.81 A.2.2).
    const g = geometry.components[structure.scan[0].componentIndex];
    mcusWide = g.blocksWide;
    mcusHigh = g.blocksHigh;
    blocksPerMcu = 1;
  }
  const mcuCount = mcusWide * mcusHigh;
  const ri = structure.restartInterval;
  const mcusPerInterval = ri > 0 && ri < mcuCount ? ri : mcuCount;
  return {
    interleaved,
    mcusWide,
    mcusHigh,
    mcuCount,
    blocksPerMcu,
    mcusPerInterval,
    intervalCount: Math.ceil(mcuCount / mcusPerInterval),
  };
}

export interface ScanDecodeOptions {
  /** Stop at the first damaged MCU (the decoder's mode); problems after it are not looked for. */
  readonly stopAtFirstDamage?: boolean;
  /** Keep the coefficients (default true). Without them the walk only checks the stream. */
  readonly storeCoefficients?: boolean;
}

export interface ScanDecodeResult {
  /** Intact MCUs' coefficients (damaged and missing MCUs are zero); null if not stored. */
  readonly coefficients: CoefficientImage | null;
  /** Per frame component, per block: 1 if the block has a non-zero AC coefficient. */
  readonly acPresent: readonly Uint8Array[] | null;
  readonly layout: ScanLayout;
  readonly mcuStatus: Uint8Array;
  readonly problems: JpegProblem[];
  /** Offset of the EOI marker, or -1 if the scan is not terminated by one. */
  readonly eoiOffset: number;
}

// Error codes of the inner loop.
const ERR_NONE = 0;
const ERR_BAD_CODE = 1;
const ERR_DC_CATEGORY = 2;
const ERR_AC_SYMBOL = 3;
const ERR_ZRL_EOB = 4;
const ERR_RUN = 5;
const ERR_DC_RANGE = 6;
const ERR_OVERRUN = 7;

const NATURAL = Int32Array.from(ZIGZAG);
/** nextInterval's answer for an RST marker that ends no interval. */
const SPURIOUS = -1;
const LOOKAHEAD_MASK = (1 << LOOKAHEAD_BITS) - 1;

/** Per-scan state shared by the inner loop: planes, tables and DC predictors per scan component. */
class ScanContext {
  readonly data: Uint8Array;
  readonly layout: ScanLayout;
  readonly ns: number;
  readonly planes: Int16Array[];
  readonly flags: Uint8Array[];
  readonly stride: Int32Array;
  readonly mh: Int32Array;
  readonly mv: Int32Array;
  readonly dc: HuffmanDecodeTable[];
  readonly ac: HuffmanDecodeTable[];
  readonly dcOnly: Int32Array[];
  readonly pred = new Int32Array(4);
  readonly origin = new Int32Array(4);
  /** For block b of an MCU: its scan component and its offset from the MCU's first block. */
  readonly blockComp: Int32Array;
  readonly blockRel: Int32Array;
  err = ERR_NONE;
  errDetail = 0;
  errComponent = 0;
  /** Intervals decodeMcus passed through in its lane, and where the last one's data began. */
  lanePassed = 0;
  laneStart = 0;
  /** The walker's MCU status (decodeMcus only enters intervals still all missing). */
  status: Uint8Array = new Uint8Array(0);

  /** False when coefficients are not kept: every block is decoded into one scratch block. */
  readonly store: boolean;

  constructor(
    data: Uint8Array,
    structure: JpegStructure,
    geometry: FrameGeometry,
    image: CoefficientImage | null,
    acPresent: Uint8Array[] | null,
    layout: ScanLayout,
  ) {
    this.data = data;
    this.layout = layout;
    const scan = structure.scan;
    this.ns = scan.length;
    this.store = image !== null && acPresent !== null;
    const scratch = new Int16Array(64);
    const scratchFlags = new Uint8Array(1);
    this.planes = scan.map((s) => (image === null ? scratch : image.planes[s.componentIndex]));
    this.flags = scan.map((s) => (acPresent === null ? scratchFlags : acPresent[s.componentIndex]));
    this.stride = Int32Array.from(
      scan,
      (s) => geometry.components[s.componentIndex].paddedBlocksWide,
    );
    const comps = scan.map((s) => structure.frame.components[s.componentIndex]);
    this.mh = Int32Array.from(comps, (c) => (layout.interleaved ? c.h : 1));
    this.mv = Int32Array.from(comps, (c) => (layout.interleaved ? c.v : 1));
    this.dc = scan.map((s) => tableOf(structure, s.dcTable, false));
    this.ac = scan.map((s) => tableOf(structure, s.acTable, true));
    this.dcOnly = scan.map((_, i) => dcOnlyTableOf(this.dc[i], this.ac[i]));
    this.blockComp = new Int32Array(layout.blocksPerMcu);
    this.blockRel = new Int32Array(layout.blocksPerMcu);
    let b = 0;
    for (let ci = 0; ci < this.ns; ci++) {
      for (let by = 0; by < this.mv[ci]; by++) {
        for (let bx = 0; bx < this.mh[ci]; bx++, b++) {
          this.blockComp[b] = ci;
          this.blockRel[b] = by * this.stride[ci] + bx;
        }
      }
    }
  }

  /** Index of the first block of MCU m in scan component ci's plane. */
  mcuOrigin(m: number, ci: number): number {
    const mx = m % this.layout.mcusWide;
    const my = (m - mx) / this.layout.mcusWide;
    return my * this.mv[ci] * this.stride[ci] + mx * this.mh[ci];
  }

  /** Zero the coefficients of MCU m (it is being re-decoded, or is damaged/missing). */
  clearMcu(m: number): void {
    if (!this.store) return;
    for (let ci = 0; ci < this.ns; ci++) this.origin[ci] = this.mcuOrigin(m, ci);
    for (let b = 0; b < this.blockComp.length; b++) {
      const ci = this.blockComp[b];
      const blk = this.origin[ci] + this.blockRel[b];
      this.planes[ci].fill(0, blk * 64, blk * 64 + 64);
      this.flags[ci][blk] = 0;
    }
  }
}

/** Decoding tables per (frozen, shared) HuffmanSpec: files of one profile reuse them. */
const dcTableCache = new WeakMap<HuffmanSpec, HuffmanDecodeTable>();
const acTableCache = new WeakMap<HuffmanSpec, HuffmanDecodeTable>();

function tableOf(structure: JpegStructure, id: number, isAc: boolean): HuffmanDecodeTable {
  const spec = (isAc ? structure.tables.acHuffman : structure.tables.dcHuffman)[id];
  // parseJpegStructure guarantees every table the scan uses is defined and well formed.
  if (spec === undefined) throw new Error(`Huffman table ${id} missing after parsing`);
  const cache = isAc ? acTableCache : dcTableCache;
  let table = cache.get(spec);
  if (table === undefined) {
    table = buildHuffmanDecodeTable(spec, isAc);
    cache.set(spec, table);
  }
  return table;
}

const dcOnlyCache = new WeakMap<HuffmanDecodeTable, WeakMap<HuffmanDecodeTable, Int32Array>>();

function dcOnlyTableOf(dc: HuffmanDecodeTable, ac: HuffmanDecodeTable): Int32Array {
  let byAc = dcOnlyCache.get(dc);
  if (byAc === undefined) {
    byAc = new WeakMap();
    dcOnlyCache.set(dc, byAc);
  }
  let table = byAc.get(ac);
  if (table === undefined) {
    table = buildDcOnlyTable(dc, ac);
    byAc.set(ac, table);
  }
  return table;
}

/** A code longer than the lookahead (T.81 Figure F.16): (length << 8) | symbol, or -1. */
function decodeLongCode(t: HuffmanDecodeTable, bits: number, count: number): number {
  const peek = (bits >>> (count - 16)) & 0xffff;
  for (let l = LOOKAHEAD_BITS + 1; l <= 16; l++) {
    const code = peek >>> (16 - l);
    if (code <= t.maxCode[l]) return (l << 8) | t.values[t.valOffset[l] + code];
  }
  return -1;
}

/**
 * Decode the `count` MCUs of the restart interval that starts at MCU `first`; returns the MCU
 * index where decoding stopped, with ctx.err set if that MCU failed.
 *
 * With `lane`, an interval that ends cleanly (fewer than 8 padding 1-bits, then exactly the
 * expected RST marker) is passed straight into the next one, whose MCUs must not have been
 * decoded before; ctx.lanePassed counts the intervals passed this way. Anything else stops at
 * the interval's end for the walker to sort out. This keeps a well-formed stream with a
 * restart marker after every MCU inside this loop.
 *
 * This is the hot loop: the bit buffer lives in locals and bytes are loaded inline (two at a
 * time while neither is 0xFF, else one by one with the stuffing and marker rules of
 * bit-reader.ts). The lookahead paths need LOOKAHEAD_BITS buffered bits, so loading starts
 * below 16; the paths for longer codes and magnitudes top up to more than 24 first.
 */
function decodeMcus(
  ctx: ScanContext,
  r: EntropyReader,
  first: number,
  count: number,
  lane: boolean,
): number {
  const data = ctx.data;
  const n = data.length;
  let bits = r.bits;
  let cnt = r.count;
  let pos = r.pos;
  let phantom = r.phantom;
  let ended = r.ended;
  const mw = ctx.layout.mcusWide;
  const ns = ctx.ns;
  const bpm = ctx.blockComp.length;
  const {
    blockComp,
    blockRel,
    origin,
    pred,
    planes,
    flags,
    stride,
    mh,
    mv,
    dc: dcTabs,
    ac: acTabs,
  } = ctx;
  const dcOnlyTabs = ctx.dcOnly;
  const store = ctx.store;
  const natural = NATURAL;
  let err = ERR_NONE;
  let detail = 0;
  let b = 0;
  let m = first;
  const mcuCount = ctx.layout.mcuCount;
  const per = ctx.layout.mcusPerInterval;
  const status = ctx.status;
  let end = first + count;
  const last = lane ? mcuCount : end;
  let interval = (first / per) | 0;
  let passed = 0;
  let laneStart = pos;
  let mx = m % mw;
  let my = (m - mx) / mw;
  mcus: while (m < last) {
    if (store) for (let ci = 0; ci < ns; ci++) origin[ci] = my * mv[ci] * stride[ci] + mx * mh[ci];
    for (b = 0; b < bpm; b++) {
      const ci = blockComp[b];
      // Without stored coefficients every block goes to the one scratch block.
      const blk = store ? origin[ci] + blockRel[b] : 0;
      const plane = planes[ci];
      const base = blk << 6;

      // DC coefficient: a magnitude category, then that many bits (T.81 F.2.2.1). The fast
      // tables need at most LOOKAHEAD_BITS bits; other paths top up again before magnitudes.
      if (cnt < 16) {
        if (!ended && pos + 1 < n && data[pos] !== 0xff && data[pos + 1] !== 0xff) {
          bits = (bits << 16) | (data[pos] << 8) | data[pos + 1];
          pos += 2;
          cnt += 16;
        } else {
          while (cnt <= 24) {
            let byte = 0;
            if (!ended) {
              if (pos < n) {
                byte = data[pos];
                if (byte !== 0xff) pos++;
                else if (pos + 1 < n && data[pos + 1] === 0) pos += 2;
                else {
                  byte = 0;
                  ended = true;
                }
              } else ended = true;
            }
            if (ended) phantom += 8;
            bits = (bits << 8) | byte;
            cnt += 8;
          }
        }
      }
      const dcT = dcTabs[ci];
      const peekDc = (bits >>> (cnt - LOOKAHEAD_BITS)) & LOOKAHEAD_MASK;
      let diff = 0;
      const whole = dcOnlyTabs[ci][peekDc];
      let e = (dcT.fastDc as Int32Array)[peekDc];
      if (whole !== 0) {
        // A DC difference and EOB: the whole block in one lookup.
        cnt -= whole & 15;
        diff = whole >> 8;
      } else if (e !== 0) {
        // Code and magnitude bits resolved by one lookup.
        cnt -= e & 15;
        diff = e >> 8;
      } else {
        e = dcT.lookup[peekDc];
        if (e === 0) {
          e = decodeLongCode(dcT, bits, cnt);
          if (e < 0) {
            err = cnt - 16 < phantom ? ERR_OVERRUN : ERR_BAD_CODE;
            break mcus;
          }
        }
        cnt -= e >> 8;
        while (cnt <= 24) {
          let byte = 0;
          if (!ended) {
            if (pos < n) {
              byte = data[pos];
              if (byte !== 0xff) pos++;
              else if (pos + 1 < n && data[pos + 1] === 0) pos += 2;
              else {
                byte = 0;
                ended = true;
              }
            } else ended = true;
          }
          if (ended) phantom += 8;
          bits = (bits << 8) | byte;
          cnt += 8;
        }
        const s = e & 255;
        if (s > MAX_DC_CATEGORY) {
          err = cnt < phantom ? ERR_OVERRUN : ERR_DC_CATEGORY;
          detail = s;
          break mcus;
        }
        if (s !== 0) {
          diff = (bits >>> (cnt - s)) & ((1 << s) - 1);
          cnt -= s;
          if (diff < 1 << (s - 1)) diff += 1 - (1 << s);
        }
      }
      let dc = pred[ci];
      if (diff !== 0) {
        dc += diff;
        if (dc > DC_LIMIT || dc < -DC_LIMIT) {
          err = cnt < phantom ? ERR_OVERRUN : ERR_DC_RANGE;
          detail = dc;
          break mcus;
        }
        pred[ci] = dc;
      }
      plane[base] = dc;
      if (whole !== 0) {
        if (store) flags[ci][blk] = 0;
        continue;
      }

      // AC coefficients 1..63 as run/size symbols (T.81 F.2.2.2).
      const acT = acTabs[ci];
      const fast = acT.fastAc as Int32Array;
      const look = acT.lookup;
      let k = 1;
      let nz = 0;
      let afterZrl = false;
      while (k < 64) {
        if (cnt < 16) {
          if (!ended && pos + 1 < n && data[pos] !== 0xff && data[pos + 1] !== 0xff) {
            bits = (bits << 16) | (data[pos] << 8) | data[pos + 1];
            pos += 2;
            cnt += 16;
          } else {
            while (cnt <= 24) {
              let byte = 0;
              if (!ended) {
                if (pos < n) {
                  byte = data[pos];
                  if (byte !== 0xff) pos++;
                  else if (pos + 1 < n && data[pos + 1] === 0) pos += 2;
                  else {
                    byte = 0;
                    ended = true;
                  }
                } else ended = true;
              }
              if (ended) phantom += 8;
              bits = (bits << 8) | byte;
              cnt += 8;
            }
          }
        }
        const peek = (bits >>> (cnt - LOOKAHEAD_BITS)) & LOOKAHEAD_MASK;
        const f = fast[peek];
        if (f !== 0) {
          cnt -= f & 15;
          const value = f >> 12;
          if (value === 0) {
            // EOB, which a baseline encoder never writes right after ZRL.
            if (afterZrl) {
              err = cnt < phantom ? ERR_OVERRUN : ERR_ZRL_EOB;
              break mcus;
            }
            break;
          }
          k += (f >> 4) & 15;
          if (k > 63) {
            err = cnt < phantom ? ERR_OVERRUN : ERR_RUN;
            break mcus;
          }
          if (store) plane[base + natural[k]] = value;
          nz = 1;
          afterZrl = false;
          if ((f & 0xf00) !== 0 && k < 63) {
            // The EOB that follows was in the same lookup.
            cnt -= (f >> 8) & 15;
            break;
          }
          k++;
          continue;
        }
        e = look[peek];
        if (e === 0) {
          e = decodeLongCode(acT, bits, cnt);
          if (e < 0) {
            err = cnt - 16 < phantom ? ERR_OVERRUN : ERR_BAD_CODE;
            break mcus;
          }
          cnt -= e >> 8;
          while (cnt <= 24) {
            let byte = 0;
            if (!ended) {
              if (pos < n) {
                byte = data[pos];
                if (byte !== 0xff) pos++;
                else if (pos + 1 < n && data[pos + 1] === 0) pos += 2;
                else {
                  byte = 0;
                  ended = true;
                }
              } else ended = true;
            }
            if (ended) phantom += 8;
            bits = (bits << 8) | byte;
            cnt += 8;
          }
        } else cnt -= e >> 8;
        const sym = e & 255;
        const run = sym >> 4;
        const size = sym & 15;
        if (size === 0) {
          if (run === 15) {
            // ZRL: 16 zeros, which a baseline encoder writes only before a non-zero coefficient.
            if (k + 16 > 63) {
              err = cnt < phantom ? ERR_OVERRUN : ERR_RUN;
              break mcus;
            }
            k += 16;
            afterZrl = true;
            continue;
          }
          if (run !== 0 || afterZrl) {
            err = cnt < phantom ? ERR_OVERRUN : run !== 0 ? ERR_AC_SYMBOL : ERR_ZRL_EOB;
            detail = sym;
            break mcus;
          }
          break; // EOB
        }
        if (size > MAX_AC_CATEGORY) {
          err = cnt < phantom ? ERR_OVERRUN : ERR_AC_SYMBOL;
          detail = sym;
          break mcus;
        }
        while (cnt < size) {
          let byte = 0;
          if (!ended) {
            if (pos < n) {
              byte = data[pos];
              if (byte !== 0xff) pos++;
              else if (pos + 1 < n && data[pos + 1] === 0) pos += 2;
              else {
                byte = 0;
                ended = true;
              }
            } else ended = true;
          }
          if (ended) phantom += 8;
          bits = (bits << 8) | byte;
          cnt += 8;
        }
        k += run;
        if (k > 63) {
          err = cnt < phantom ? ERR_OVERRUN : ERR_RUN;
          break mcus;
        }
        let v = (bits >>> (cnt - size)) & ((1 << size) - 1);
        cnt -= size;
        if (v < 1 << (size - 1)) v += 1 - (1 << size);
        if (store) plane[base + natural[k]] = v;
        nz = 1;
        afterZrl = false;
        k++;
      }
      if (store) flags[ci][blk] = nz;
    }
    if (phantom > cnt) {
      err = ERR_OVERRUN;
      break;
    }
    m++;
    if (++mx === mw) {
      mx = 0;
      my++;
    }
    if (m === end && m < last) {
      // Lane: a clean interval end and the expected RST lead straight into the next interval.
      const left = cnt - phantom;
      if (left >= 8 || data[pos] !== 0xff || data[pos + 1] !== Marker.RST0 + (interval & 7)) break;
      if (left > 0 && ((bits >>> (cnt - left)) & ((1 << left) - 1)) !== (1 << left) - 1) break;
      // The next interval must have data of its own: not another marker, not the end.
      const p2 = pos + 2;
      if (p2 >= n || (data[p2] === 0xff && (p2 + 1 >= n || data[p2 + 1] !== 0))) break;
      const nextEnd = Math.min(end + per, mcuCount);
      let fresh = true;
      for (let k = end; k < nextEnd; k++) if (status[k] !== MCU_MISSING) fresh = false;
      if (!fresh) break;
      pos += 2;
      laneStart = pos;
      bits = 0;
      cnt = 0;
      phantom = 0;
      ended = false;
      for (let ci = 0; ci < ns; ci++) pred[ci] = 0;
      interval++;
      passed++;
      end = nextEnd;
    }
  }
  ctx.lanePassed = passed;
  ctx.laneStart = laneStart;
  r.bits = bits;
  r.count = cnt;
  r.pos = pos;
  r.phantom = phantom;
  r.ended = ended;
  ctx.err = err;
  ctx.errDetail = detail;
  ctx.errComponent = err === ERR_NONE ? 0 : blockComp[Math.min(b, bpm - 1)];
  return m;
}

/** The scan's entropy-coded data, decoded; see the module comment for what is checked. */
export function decodeScan(
  bytes: Uint8Array,
  structure: JpegStructure,
  options: ScanDecodeOptions = {},
): ScanDecodeResult {
  const geometry = frameGeometry(structure.frame);
  const store = options.storeCoefficients !== false;
  const coefficients = store ? createCoefficientImage(structure.frame) : null;
  const acPresent = store
    ? geometry.components.map((g) => new Uint8Array(g.paddedBlocksWide * g.paddedBlocksHigh))
    : null;
  const layout = scanLayout(structure, geometry);
  const ctx = new ScanContext(bytes, structure, geometry, coefficients, acPresent, layout);
  const walker = new ScanWalker(bytes, structure, ctx, options.stopAtFirstDamage === true);
  walker.run();
  // Damaged and missing MCUs keep no coefficients, whatever was decoded of them.
  const status = walker.status;
  if (store) for (let m = 0; m < status.length; m++) if (status[m] !== MCU_INTACT) ctx.clearMcu(m);
  return {
    coefficients,
    acPresent,
    layout,
    mcuStatus: status,
    problems: walker.problems,
    eoiOffset: walker.eoi,
  };
}

/** Walks the scan interval by interval and marker by marker, recording problems. */
class ScanWalker {
  readonly status: Uint8Array;
  readonly problems: JpegProblem[] = [];
  eoi = -1;
  private readonly reader: EntropyReader;
  private readonly restartEnabled: boolean;
  private readonly perInterval: number;
  private readonly mcuCount: number;
  /** Memo of the last look-ahead for an RST marker, keeping resynchronisation linear. */
  private lookFrom = -1;
  private lookAt = -1;
  private lookCode = -1;
  /** Set by nextInterval when it decided that intervals are missing before the marker. */
  private jumpedForward = false;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly structure: JpegStructure,
    private readonly ctx: ScanContext,
    private readonly stopAtFirstDamage: boolean,
  ) {
    this.status = new Uint8Array(ctx.layout.mcuCount).fill(MCU_MISSING);
    ctx.status = this.status;
    this.reader = new EntropyReader(bytes);
    this.restartEnabled = ctx.layout.intervalCount > 1 || structure.restartInterval > 0;
    this.perInterval = ctx.layout.mcusPerInterval;
    this.mcuCount = ctx.layout.mcuCount;
  }

  private problem(
    kind: JpegProblemKind,
    offset: number,
    mcu: number | null,
    message: string,
  ): void {
    if (this.problems.length < MAX_REPORTED_PROBLEMS) {
      this.problems.push({ kind, offset, mcu, message });
    } else if (this.problems.length === MAX_REPORTED_PROBLEMS) {
      this.problems.push({
        kind: 'too-many-problems',
        offset,
        mcu,
        message: `more than ${MAX_REPORTED_PROBLEMS} problems; the rest are not listed`,
      });
    }
  }

  private firstMcu(iv: number): number {
    return iv * this.perInterval;
  }

  private mcusIn(iv: number): number {
    return Math.min(this.perInterval, this.mcuCount - iv * this.perInterval);
  }

  private setStatus(from: number, to: number, value: number): void {
    const status = this.status;
    for (let m = from; m < to; m++) status[m] = value;
  }

  run(): void {
    const { bytes, ctx, reader } = this;
    const intervals = ctx.layout.intervalCount;
    const status = this.status;
    const pred = ctx.pred;
    let s = 0; // interval number of the data at segStart
    let segStart = this.structure.headerEnd;
    for (;;) {
      reader.reset(segStart);
      // Decode phase: the intervals this segment holds (normally one).
      let c = 0;
      let segmentInterval = -1;
      let tentative = false; // decoding the bytes that followed an interval's MCUs
      let tentativeAt = 0;
      // Where the data of the segment's last interval began, and the problems list before it.
      let lastStart = segStart;
      let lastMark = this.problems.length;
      if (s >= intervals) {
        if (!reader.atSegmentEnd()) {
          this.problem(
            'mcu-count',
            segStart,
            null,
            'entropy-coded data continues after the last MCU',
          );
        }
        reader.skipToMarker();
      } else if (reader.atSegmentEnd()) {
        // A marker right away: no data at all for interval s. Its MCUs stay missing.
        this.problem(
          'mcu-count',
          segStart,
          this.firstMcu(s),
          `restart interval ${s} has no data (marker at offset ${segStart})`,
        );
        c = 1;
      } else {
        for (;;) {
          let iv = s + c;
          if (iv >= intervals) {
            // Unexplained bytes after the last interval's MCUs.
            this.damageInterval(iv - 1);
            this.problem(
              'extra-data',
              tentativeAt,
              null,
              extraMessage(iv - 1, tentativeAt, 'the last MCU'),
            );
            reader.skipToMarker();
            break;
          }
          let first = iv * this.perInterval;
          let count = this.mcusIn(iv);
          let end = first + count;
          // DC predictions restart from 0 at every restart interval (T.81 F.2.1.3.1).
          for (let ci = 0; ci < ctx.ns; ci++) pred[ci] = 0;
          for (let m = first; m < end; m++) if (status[m] !== MCU_MISSING) ctx.clearMcu(m);
          const start = tentative ? tentativeAt : reader.pos;
          const mark = this.problems.length;
          const stop = decodeMcus(ctx, reader, first, count, !tentative);
          if (!tentative || stop - first === count) {
            lastStart = ctx.lanePassed > 0 ? ctx.laneStart : start;
            lastMark = mark;
          }
          if (ctx.lanePassed > 0) {
            // Whole intervals and their RST markers went by: the segment now starts later.
            const passedEnd = (iv + ctx.lanePassed) * this.perInterval;
            this.setStatus(first, passedEnd, MCU_INTACT);
            s = iv + ctx.lanePassed;
            c = 0;
            iv = s;
            first = passedEnd;
            count = this.mcusIn(iv);
            end = first + count;
          }
          const done = stop - first;
          if (done < count) {
            if (tentative) {
              // The bytes after interval iv-1 were not a lost-RST interval, just bad data.
              for (let m = first; m < end; m++) ctx.clearMcu(m);
              this.damageInterval(iv - 1);
              this.problem(
                'extra-data',
                tentativeAt,
                null,
                extraMessage(iv - 1, tentativeAt, 'its MCUs'),
              );
            } else {
              c++;
              segmentInterval = iv;
              this.setStatus(first, first + done, MCU_INTACT);
              this.setStatus(first + done, end, MCU_DAMAGED);
              this.reportDecodeError(iv, first, done, count);
              if (this.stopAtFirstDamage) return;
            }
            reader.skipToMarker();
            break;
          }
          c++;
          segmentInterval = iv;
          this.setStatus(first, end, MCU_INTACT);
          if (tentative) {
            this.problem(
              'missing-rst',
              tentativeAt,
              first,
              `no RST marker between restart intervals ${iv - 1} and ${iv} (offset ${tentativeAt})`,
            );
            tentative = false;
          }
          const ending = reader.intervalEnd();
          if (ending === 'clean') break;
          if (ending === 'bad-padding') {
            this.problem(
              'bad-padding',
              reader.byteOffset(),
              end - 1,
              `padding bits after MCU ${end - 1} are not all 1s`,
            );
            break;
          }
          const next = reader.nextByteBoundary();
          if (!reader.paddedToByte()) {
            // Not how an interval ends before a lost RST: the bytes are just bad data.
            this.damageInterval(iv);
            this.problem('extra-data', next, null, extraMessage(iv, next, 'its MCUs'));
            reader.skipToMarker();
            break;
          }
          tentative = true;
          tentativeAt = next;
          reader.reset(tentativeAt);
        }
      }
      // Marker phase: what ends the segment decides where the next one belongs.
      for (;;) {
        const at = reader.pos < bytes.length ? markerAt(bytes, reader.pos) : -1;
        if (at < 0) {
          this.finishTruncated(s + c);
          return;
        }
        const code = bytes[at + 1];
        if (code === Marker.EOI) {
          this.finish(at, s + c);
          return;
        }
        if (isRst(code)) {
          const mark = this.problems.length;
          // What the bytes before the marker were: nothing, one clean interval, or damage.
          const before =
            segmentInterval !== s + c - 1
              ? 'none'
              : this.intervalIntact(segmentInterval)
                ? 'clean'
                : 'damaged';
          const next = this.nextInterval(s, c, code - Marker.RST0, at, before);
          if (this.jumpedForward && before === 'clean') {
            // Whole intervals went missing, markers and all. RSTn ends interval n, so the clean
            // bytes before it are interval next - 1, not the one expected.
            const wrongRst = this.problems.slice(mark);
            this.problems.length = lastMark;
            this.problems.push(...wrongRst);
            this.redecode(segmentInterval, next - 1, lastStart);
          } else if (this.jumpedForward && before === 'damaged') {
            // Damaged bytes where markers should be: the intervals up to this marker had their
            // data there, undecodable.
            for (let iv = s + c; iv < next; iv++) {
              const from = this.firstMcu(iv);
              this.setStatus(from, from + this.mcusIn(iv), MCU_DAMAGED);
            }
          }
          if (next === SPURIOUS) {
            // The bytes up to the next marker still belong to the interval before this one.
            if (segmentInterval >= 0) this.damageInterval(segmentInterval);
            if (this.stopAtFirstDamage && segmentInterval >= 0) return;
            reader.pos = findMarker(bytes, at + 2);
            continue;
          }
          s = next;
          segStart = at + 2;
          break;
        }
        if (s + c >= intervals && this.skipSegmentAfterScan(at, code)) continue;
        this.problem(
          'bad-stuffing',
          at,
          segmentInterval >= 0 ? this.firstMcu(segmentInterval) : null,
          `0xff 0x${code.toString(16).padStart(2, '0')} inside entropy-coded data at offset ${at}`,
        );
        if (segmentInterval >= 0) this.damageInterval(segmentInterval);
        if (this.stopAtFirstDamage && segmentInterval >= 0) return;
        reader.pos = findMarker(bytes, at + 2);
      }
    }
  }

  /** Decode again the bytes from `start` to the next marker, as interval `to` instead of `from`. */
  private redecode(from: number, to: number, start: number): void {
    const { ctx, reader } = this;
    const oldFirst = this.firstMcu(from);
    const oldEnd = oldFirst + this.mcusIn(from);
    for (let m = oldFirst; m < oldEnd; m++) ctx.clearMcu(m);
    this.setStatus(oldFirst, oldEnd, MCU_MISSING);
    const first = this.firstMcu(to);
    const count = this.mcusIn(to);
    for (let ci = 0; ci < ctx.ns; ci++) ctx.pred[ci] = 0;
    for (let m = first; m < first + count; m++) if (this.status[m] !== MCU_MISSING) ctx.clearMcu(m);
    reader.reset(start);
    const done = decodeMcus(ctx, reader, first, count, false) - first;
    if (done < count) {
      this.setStatus(first, first + done, MCU_INTACT);
      this.setStatus(first + done, first + count, MCU_DAMAGED);
      this.reportDecodeError(to, first, done, count);
    } else {
      this.setStatus(first, first + count, MCU_INTACT);
      const ending = reader.intervalEnd();
      if (ending === 'bad-padding') {
        this.problem(
          'bad-padding',
          reader.byteOffset(),
          first + count - 1,
          `padding bits after MCU ${first + count - 1} are not all 1s`,
        );
      } else if (ending === 'extra-data') {
        const at = reader.nextByteBoundary();
        this.damageInterval(to);
        this.problem('extra-data', at, null, extraMessage(to, at, 'its MCUs'));
      }
    }
    reader.skipToMarker();
  }

  private intervalIntact(iv: number): boolean {
    const first = this.firstMcu(iv);
    return (
      this.status[first] === MCU_INTACT && this.status[first + this.mcusIn(iv) - 1] === MCU_INTACT
    );
  }

  private damageInterval(iv: number): void {
    if (iv < 0) return;
    const first = this.firstMcu(iv);
    for (let m = first; m < first + this.mcusIn(iv); m++) {
      if (this.status[m] === MCU_INTACT) this.status[m] = MCU_DAMAGED;
    }
  }

  private reportDecodeError(iv: number, first: number, done: number, count: number): void {
    const ctx = this.ctx;
    const reader = this.reader;
    const mcu = first + done;
    const offset = reader.byteOffset();
    const comp =
      this.structure.frame.components[this.structure.scan[ctx.errComponent].componentIndex].id;
    const inBlock = `MCU ${mcu}, component ${comp}`;
    switch (ctx.err) {
      case ERR_BAD_CODE:
        this.problem(
          'bad-huffman-code',
          offset,
          mcu,
          `bad Huffman code at offset ${offset} (${inBlock})`,
        );
        return;
      case ERR_DC_CATEGORY:
        this.problem(
          'bad-symbol',
          offset,
          mcu,
          `DC magnitude category ${ctx.errDetail} exceeds ${MAX_DC_CATEGORY} (${inBlock})`,
        );
        return;
      case ERR_AC_SYMBOL:
        this.problem(
          'bad-symbol',
          offset,
          mcu,
          `AC symbol 0x${ctx.errDetail.toString(16).padStart(2, '0')} is not a valid baseline run/size (${inBlock})`,
        );
        return;
      case ERR_ZRL_EOB:
        this.problem('bad-symbol', offset, mcu, `EOB right after ZRL (${inBlock})`);
        return;
      case ERR_RUN:
        this.problem(
          'coefficient-overflow',
          offset,
          mcu,
          `run of zeros passes coefficient 63 (${inBlock})`,
        );
        return;
      case ERR_DC_RANGE:
        this.problem(
          'coefficient-overflow',
          offset,
          mcu,
          `DC value ${ctx.errDetail} outside +-${DC_LIMIT} (${inBlock})`,
        );
        return;
      default: {
        const at = reader.pos < this.bytes.length ? markerAt(this.bytes, reader.pos) : -1;
        if (at < 0) {
          this.problem(
            'truncated',
            this.bytes.length,
            mcu,
            `file ends inside MCU ${mcu} (restart interval ${iv}: ${done} of ${count} MCUs decoded)`,
          );
        } else {
          this.problem(
            'mcu-count',
            at,
            mcu,
            `restart interval ${iv} ends inside MCU ${mcu} (${done} of ${count} MCUs decoded), at ${segmentName(this.bytes[at + 1])} (offset ${at})`,
          );
        }
      }
    }
  }

  /**
   * The interval that follows RSTn, given that the segment began with interval s and held c
   * intervals, or SPURIOUS when the marker belongs to no interval boundary. RSTn ends interval
   * number n mod 8 (T.81 B.2.1). On a mismatch the next marker's number decides between: a
   * spurious marker inside the interval (the next one is the expected number), a corrupt
   * number (the next one follows on), and the smallest jump back (intervals decoded from
   * bytes after a lost marker were bogus) or forward (intervals are missing) that fits.
   */
  private nextInterval(
    s: number,
    c: number,
    n: number,
    offset: number,
    before: 'none' | 'clean' | 'damaged',
  ): number {
    const intervals = this.ctx.layout.intervalCount;
    const a = s + c;
    const expected = (a - 1) & 7;
    this.jumpedForward = false;
    if (!this.restartEnabled) {
      this.problem('wrong-rst', offset, null, `RST${n} in a scan without a restart interval (DRI)`);
      return Math.max(a, intervals);
    }
    if (n === expected && a < intervals) return a;
    if (a >= intervals) {
      this.problem('wrong-rst', offset, null, `RST${n} after the last restart interval`);
      return a;
    }
    const next = this.lookAheadRst(offset + 2);
    const forward = a + ((n - expected) & 7);
    const back = a - ((expected - n) & 7);
    let chosen = a;
    if (next >= 0) {
      if (next === expected) {
        this.problem(
          'wrong-rst',
          offset,
          this.firstMcu(a - 1),
          `spurious RST${n} inside restart interval ${a - 1} (offset ${offset})`,
        );
        return SPURIOUS;
      }
      const backOk = c > 1 && back > s && next === (back & 7);
      const forwardOk = forward < intervals && next === (forward & 7);
      if (next === (a & 7)) chosen = a;
      else if (backOk && (!forwardOk || a - back <= forward - a)) chosen = back;
      else if (forwardOk) chosen = forward;
    } else if (forward === intervals - 1) {
      chosen = forward;
    }
    const first = this.firstMcu(Math.min(chosen, intervals - 1));
    let message = `found RST${n} where RST${expected} was expected (offset ${offset})`;
    if (chosen > a) {
      this.jumpedForward = true;
      // Clean data before the marker is interval chosen - 1 (RSTn ends interval n); damaged
      // data may hold any of the intervals up to it; no data: they are all missing.
      const from = before === 'clean' ? a - 1 : a;
      const to = chosen - (before === 'clean' ? 2 : 1);
      const state = before === 'damaged' ? 'damaged (their markers are gone)' : 'missing';
      message += `; restart intervals ${from}..${to} (MCUs ${this.firstMcu(from)}..${this.firstMcu(to + 1) - 1}) are ${state}`;
    } else if (chosen < a) {
      // The intervals decoded after a supposedly lost marker were bytes of no interval: the
      // interval they followed had extra data, and they will be decoded from their own data.
      this.damageInterval(chosen - 1);
      for (let iv = chosen; iv < a; iv++) {
        const from = this.firstMcu(iv);
        const to = from + this.mcusIn(iv);
        for (let m = from; m < to; m++) this.ctx.clearMcu(m);
        this.setStatus(from, to, MCU_MISSING);
      }
      message += `; restart intervals ${chosen}..${a - 1} were decoded from bytes that belong to none`;
    }
    this.problem('wrong-rst', offset, first, message);
    return chosen;
  }

  /** Number (0..7) of the next RST marker at or after `from`, or -1 if EOI or the end comes first. */
  private lookAheadRst(from: number): number {
    if (this.lookFrom >= 0 && from >= this.lookFrom && from <= this.lookAt) return this.lookCode;
    const bytes = this.bytes;
    let p = from;
    let result = -1;
    let at = bytes.length;
    for (;;) {
      p = findMarker(bytes, p);
      const m = p < bytes.length ? markerAt(bytes, p) : -1;
      if (m < 0) break;
      const code = bytes[m + 1];
      if (isRst(code)) {
        result = code - Marker.RST0;
        at = m;
        break;
      }
      if (code === Marker.EOI) {
        at = m;
        break;
      }
      p = m + 2;
    }
    this.lookFrom = from;
    this.lookAt = at;
    this.lookCode = result;
    return result;
  }

  /**
   * After the last MCU, tables/misc segments may come before EOI (T.81 B.2.4). Skip a
   * well-formed one and return true; anything else is not a segment.
   */
  private skipSegmentAfterScan(offset: number, code: number): boolean {
    const ok =
      code === Marker.DHT ||
      code === Marker.DQT ||
      code === Marker.DRI ||
      code === Marker.COM ||
      (code >= Marker.APP0 && code <= Marker.APP15);
    const bytes = this.bytes;
    if (!ok || offset + 4 > bytes.length) return false;
    const length = (bytes[offset + 2] << 8) | bytes[offset + 3];
    if (length < 2 || offset + 2 + length > bytes.length) return false;
    const next = offset + 2 + length;
    this.reader.pos = findMarker(bytes, next);
    if (this.reader.pos !== next) {
      this.problem(
        'extra-data',
        next,
        null,
        `${this.reader.pos - next} bytes after the ${segmentName(code)} segment`,
      );
    }
    return true;
  }

  private finish(eoiOffset: number, reached: number): void {
    this.eoi = eoiOffset;
    const layout = this.ctx.layout;
    if (reached < layout.intervalCount) {
      const first = this.firstMcu(reached);
      this.problem(
        'mcu-count',
        eoiOffset,
        first,
        `EOI at offset ${eoiOffset} after restart interval ${reached - 1}: MCUs ${first}..${layout.mcuCount - 1} are missing`,
      );
    }
    const tail = this.bytes.length - (eoiOffset + 2);
    if (tail > 0) this.problem('trailing-data', eoiOffset + 2, null, `${tail} bytes after EOI`);
  }

  private finishTruncated(reached: number): void {
    const layout = this.ctx.layout;
    const n = this.bytes.length;
    if (reached < layout.intervalCount) {
      const first = this.firstMcu(reached);
      this.problem(
        'truncated',
        n,
        first,
        `file ends at offset ${n} inside the scan: MCUs ${first}..${layout.mcuCount - 1} are missing, no EOI`,
      );
    } else {
      this.problem('truncated', n, null, `file ends at offset ${n} without EOI`);
    }
  }
}

function extraMessage(iv: number, at: number, after: string): string {
  return `unexpected bytes at offset ${at} after ${after} of restart interval ${iv}`;
}
