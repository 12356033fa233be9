/**
 * The incremental JPEG grammar for constrained decoding: consumes a canonical baseline stream
 * byte by byte and, at any point, gives the bytes that keep it a prefix of some complete,
 * canonical stream of the same frame, tables and restart interval (see grammar-tables.ts for
 * what "canonical" excludes). The entropy-coded segment is followed bit by bit (T.81 F.2.2
 * decoding procedures run as a state machine), with byte stuffing (B.1.1.5), 1-bit padding
 * before each marker (F.1.2.3), RSTm markers every restart interval (B.2.4.4, E.1.4) and EOI.
 *
 * Speed: a byte mask is a function of the bit-level state (block position, Huffman node or
 * magnitude bits left, coefficient index, ...) except where a DC value near the 8-bit limit or a
 * second MCU end inside one byte is involved. Masks are computed once per such state by
 * simulating the 256 candidate bytes and cached on the shared automaton; the few candidates
 * that depend on the DC predictors are re-checked against the real state on every call.
 */
import { CodecError } from '../errors.js';
import {
  AC_K_ROWS,
  buildScanAutomaton,
  DC_LIMIT,
  EOB,
  ZRL,
  type ScanAutomaton,
  type ScanStructure,
} from './grammar-tables.js';
import { Marker } from './markers.js';

/** An incremental byte-level recogniser, for masking a byte LM's logits. */
export interface ByteGrammar {
  /** 256 entries, 1 = the byte may come next. The array may be reused: copy it to keep it. */
  allowedBytes(): Uint8Array;
  /** Advance by one byte; throws CodecError (state unchanged) if the byte is not allowed. */
  accept(byte: number): void;
  /** Whether all these bytes (e.g. one BPE token) would be accepted from here; no state change. */
  acceptsAll(bytes: Uint8Array): boolean;
  /** An independent copy (for batched or speculative decoding). */
  clone(): ByteGrammar;
  /** True once EOI has been consumed; nothing may follow. */
  readonly complete: boolean;
  /** Index of the MCU being decoded (the number of complete MCUs). */
  readonly mcuIndex: number;
}

// Byte-level modes.
const SCAN = 0;
const STUFF = 1; // a data byte 0xFF was written; the stuffed 0x00 must follow (B.1.1.5)
const MARKER_FF = 2;
const MARKER_CODE = 3;
const DONE = 4;
const HEADER = 5;

// Bit-level phases inside the entropy-coded segment.
const DC_HUFF = 0;
const DC_MAG = 1;
const AC_HUFF = 2;
const AC_MAG = 3;
const PAD = 4; // after the last MCU of an interval: 1-bits up to the byte boundary (F.1.2.3)

// Results of feeding a byte.
const DEAD = 0;
const OK = 1;
/** Only in static simulation: the outcome depends on state not captured by the cache key. */
const DYNAMIC = 2;

/**
 * Largest |DC predictor| for which cached masks hold: diffs of categories <= 9 (|d| <= 511) are
 * then never limited by DC_LIMIT, even several in one byte (their magnitude bits total <= 8 plus
 * one category-9 value begun earlier: 1024 + 511 + 255 < 2047). Categories 10 and 11 are always
 * checked against the real predictor.
 */
const SAFE_PREDICTOR = 1024;
const STATIC_MAX_DC_CATEGORY = 9;
/** Cached masks per automaton before the cache is dropped (each entry is ~300 bytes). */
const MAX_CACHED_MASKS = 1 << 16;

/** The mutable state of a grammar. Plain numeric fields, copied wholesale by clone(). */
class GrammarState {
  mode = SCAN;
  offset = 0; // bytes consumed (for error messages)
  headerPos = 0;
  afterStuff = SCAN; // mode to return to after the stuffed 0x00
  // Entropy decoder position.
  phase = DC_HUFF;
  b = 0; // block position in the MCU
  node = 0; // Huffman tree node
  k = 1; // next AC coefficient index (zig-zag)
  zrl = 0; // 1 after ZRL: a non-zero coefficient must come before the block may end
  magLeft = 0;
  magCat = 0;
  magVal = 0;
  // MCU bookkeeping.
  mcuIndex = 0;
  mcusLeft = 0; // MCUs left in the restart interval, including the current one
  lastInInterval = 0; // the current MCU is followed by a marker
  restarts = 0; // RST markers written so far
  // Static simulation only.
  isStatic = 0;
  lastUnknown = 0;
  readonly pred: Int32Array;

  constructor(components: number) {
    this.pred = new Int32Array(components);
  }

  copyFrom(o: GrammarState): void {
    this.mode = o.mode;
    this.offset = o.offset;
    this.headerPos = o.headerPos;
    this.afterStuff = o.afterStuff;
    this.phase = o.phase;
    this.b = o.b;
    this.node = o.node;
    this.k = o.k;
    this.zrl = o.zrl;
    this.magLeft = o.magLeft;
    this.magCat = o.magCat;
    this.magVal = o.magVal;
    this.mcuIndex = o.mcuIndex;
    this.mcusLeft = o.mcusLeft;
    this.lastInInterval = o.lastInInterval;
    this.restarts = o.restarts;
    this.isStatic = o.isStatic;
    this.lastUnknown = o.lastUnknown;
    const p = this.pred;
    const q = o.pred;
    for (let i = 0; i < p.length; i++) p[i] = q[i];
  }
}

interface MaskEntry {
  readonly mask: Uint8Array; // 0/1 for the candidates that depend only on the key
  readonly dynamic: Uint8Array; // candidate bytes to re-check against the real state
}

/** Per-automaton shared data: the automaton and its mask cache. */
class GrammarCore {
  readonly cache = new Map<number, MaskEntry>();
  constructor(
    readonly automaton: ScanAutomaton,
    readonly header: Uint8Array | null,
  ) {}
}

const cores = new Map<string, GrammarCore>();
const MAX_CORES = 16;

function fingerprint(s: ScanStructure, header: Uint8Array | null): string {
  const { frame, tables } = s;
  return JSON.stringify([
    frame.sofMarker,
    frame.precision,
    frame.width,
    frame.height,
    frame.components.map((c) => [c.id, c.h, c.v]),
    s.restartInterval,
    s.scan.map((c) => [c.componentIndex, c.dcTable, c.acTable]),
    s.scan.map((c) => {
      const dc = tables.dcHuffman[c.dcTable];
      const ac = tables.acHuffman[c.acTable];
      return [dc?.bits, dc?.values, ac?.bits, ac?.values];
    }),
    header === null ? null : Buffer.from(header).toString('base64'),
  ]);
}

export interface JpegGrammarOptions {
  /**
   * false (default): the stream starts right after the SOS segment (a profile's headerless
   * token stream). true: the exact header bytes (SOI through SOS) come first; they must be
   * given as `header`.
   */
  readonly includeHeader?: boolean;
  /** The header bytes expected first when includeHeader is true. */
  readonly header?: Uint8Array;
}

export class JpegGrammar implements ByteGrammar {
  private readonly core: GrammarCore;
  private readonly a: ScanAutomaton;
  private state: GrammarState;
  private scratch: GrammarState;
  /** States for enumerating the 8 bits of a byte depth-first: stack[d] after d bits (lazy). */
  private stackStates: GrammarState[] | null = null;
  private readonly out = new Uint8Array(256);

  private constructor(core: GrammarCore, state: GrammarState | null) {
    this.core = core;
    this.a = core.automaton;
    this.scratch = new GrammarState(this.a.components);
    if (state) {
      this.state = new GrammarState(this.a.components);
      this.state.copyFrom(state);
    } else {
      this.state = new GrammarState(this.a.components);
      this.resetInterval(this.state);
      if (core.header !== null) this.state.mode = HEADER;
    }
  }

  /**
   * A grammar for the scan of `s` (frame, tables, restart interval, scan components), which must
   * be one baseline scan coding every component. Throws CodecError if the structure cannot
   * code a canonical image (missing or unusable tables, non-baseline frame, ...).
   */
  static forStructure(s: ScanStructure, options: JpegGrammarOptions = {}): JpegGrammar {
    let header: Uint8Array | null = null;
    if (options.includeHeader) {
      if (options.header === undefined || options.header.length === 0) {
        throw new CodecError(
          'invalid-argument',
          'includeHeader needs the header bytes (options.header)',
        );
      }
      header = Uint8Array.from(options.header);
    }
    const key = fingerprint(s, header);
    let core = cores.get(key);
    if (core === undefined) {
      core = new GrammarCore(buildScanAutomaton(s), header);
      if (cores.size >= MAX_CORES) cores.delete(cores.keys().next().value as string);
      cores.set(key, core);
    }
    return new JpegGrammar(core, null);
  }

  get complete(): boolean {
    return this.state.mode === DONE;
  }

  get mcuIndex(): number {
    return this.state.mcuIndex;
  }

  /** Total MCUs in the image. */
  get mcuCount(): number {
    return this.a.mcuCount;
  }

  /** Byte masks cached so far for this structure (shared by all its grammars). */
  get cachedMasks(): number {
    return this.core.cache.size;
  }

  /** Bytes accepted so far. */
  get offset(): number {
    return this.state.offset;
  }

  clone(): JpegGrammar {
    return new JpegGrammar(this.core, this.state);
  }

  accept(byte: number): void {
    const s = this.scratch;
    s.copyFrom(this.state);
    if (!(byte >= 0 && byte <= 255 && Number.isInteger(byte)) || this.feed(s, byte) !== OK) {
      const st = this.state;
      const what = st.mode === DONE ? 'after EOI' : `at offset ${st.offset} (MCU ${st.mcuIndex})`;
      throw new CodecError(
        'corrupt',
        `byte ${describeByte(byte)} is not allowed ${what}`,
        st.offset,
      );
    }
    this.scratch = this.state;
    this.state = s;
  }

  acceptsAll(bytes: Uint8Array): boolean {
    const s = this.scratch;
    s.copyFrom(this.state);
    for (let i = 0; i < bytes.length; i++) if (this.feed(s, bytes[i]) !== OK) return false;
    return true;
  }

  allowedBytes(): Uint8Array {
    const out = this.out;
    const st = this.state;
    if (st.mode !== SCAN) {
      out.fill(0);
      if (st.mode === HEADER) out[(this.core.header as Uint8Array)[st.headerPos]] = 1;
      else if (st.mode === STUFF) out[0] = 1;
      else if (st.mode === MARKER_FF) out[0xff] = 1;
      else if (st.mode === MARKER_CODE) out[this.markerCode(st)] = 1;
      return out;
    }
    const key = this.cacheKey(st);
    if (key < 0) {
      this.stack[0].copyFrom(st);
      this.enumerate(out);
      return out;
    }
    let entry = this.core.cache.get(key);
    if (entry === undefined) entry = this.buildEntry(key);
    out.set(entry.mask);
    const dyn = entry.dynamic;
    for (let i = 0; i < dyn.length; i++) out[dyn[i]] = this.tryByte(dyn[i]) === OK ? 1 : 0;
    return out;
  }

  /**
   * The mask computed by simulating every candidate byte against the full state, bypassing the
   * cache. Slow; exposed so tests and benchmarks can check the cached path against it.
   */
  allowedBytesUncached(): Uint8Array {
    const out = new Uint8Array(256);
    const st = this.state;
    for (let v = 0; v < 256; v++) {
      this.scratch.copyFrom(st);
      out[v] = this.feed(this.scratch, v) === OK ? 1 : 0;
    }
    return out;
  }

  // ---- internals -------------------------------------------------------------------------

  private get stack(): GrammarState[] {
    if (this.stackStates === null) {
      this.stackStates = Array.from({ length: 9 }, () => new GrammarState(this.a.components));
    }
    return this.stackStates;
  }

  private tryByte(v: number): number {
    const s = this.scratch;
    s.copyFrom(this.state);
    return this.feed(s, v);
  }

  private markerCode(st: GrammarState): number {
    return st.mcuIndex === this.a.mcuCount ? Marker.EOI : Marker.RST0 + (st.restarts & 7);
  }

  /** Start of a restart interval (or of the scan): predictors 0 (T.81 F.2.1.3.1). */
  private resetInterval(st: GrammarState): void {
    st.mode = SCAN;
    st.phase = DC_HUFF;
    st.b = 0;
    st.node = 0;
    st.k = 1;
    st.zrl = 0;
    st.pred.fill(0);
    st.mcusLeft = this.a.restartInterval > 0 ? this.a.restartInterval : this.a.mcuCount;
    st.lastInInterval = st.mcusLeft === 1 || st.mcuIndex === this.a.mcuCount - 1 ? 1 : 0;
  }

  /**
   * The cache key of a SCAN state, or -1 when its mask depends on the DC predictors or on a
   * partial DC magnitude of category >= 10.
   */
  private cacheKey(st: GrammarState): number {
    const pred = st.pred;
    for (let i = 0; i < pred.length; i++)
      if (pred[i] > SAFE_PREDICTOR || pred[i] < -SAFE_PREDICTOR) return -1;
    let nodeOrMag: number;
    let k = 0;
    let zrl = 0;
    switch (st.phase) {
      case DC_HUFF:
        nodeOrMag = st.node;
        break;
      case DC_MAG:
        if (st.magCat > STATIC_MAX_DC_CATEGORY) return -1;
        nodeOrMag = st.magLeft;
        break;
      case AC_HUFF:
        nodeOrMag = st.node;
        k = this.sharedK(st);
        zrl = st.zrl;
        break;
      default: // AC_MAG
        nodeOrMag = st.magLeft;
        k = this.sharedK(st);
    }
    return (
      st.phase + 8 * (nodeOrMag + 512 * (k + 128 * (zrl + 2 * (st.lastInInterval + 2 * st.b))))
    );
  }

  /**
   * The coefficient index that stands for st.k in the cache key: every k up to the state's
   * share limit behaves alike for one byte (see AcTable.nodeKShare), so they map to the limit.
   */
  private sharedK(st: GrammarState): number {
    const t = this.a.ac[this.a.blockAc[st.b]];
    const limit = st.phase === AC_HUFF ? t.nodeKShare[st.node] : t.magKShare[st.magLeft];
    return st.k <= limit ? limit : st.k;
  }

  private buildEntry(key: number): MaskEntry {
    const st = this.state;
    const s = this.stack[0];
    s.copyFrom(st);
    s.isStatic = 1;
    s.lastUnknown = 0;
    if (st.phase === AC_HUFF || st.phase === AC_MAG) s.k = this.sharedK(st);
    s.pred.fill(0);
    const mask = new Uint8Array(256);
    this.enumerate(mask);
    const dynamic: number[] = [];
    for (let v = 0; v < 256; v++) {
      if (mask[v] === DYNAMIC) {
        dynamic.push(v);
        mask[v] = 0;
      }
    }
    const entry: MaskEntry = { mask, dynamic: Uint8Array.from(dynamic) };
    const cache = this.core.cache;
    if (cache.size >= MAX_CACHED_MASKS) cache.clear();
    cache.set(key, entry);
    return entry;
  }

  /**
   * The fate of all 256 bytes from the SCAN state in stack[0]: out[v] = OK, DEAD or DYNAMIC.
   * Walks the bytes in order keeping stack[d] = the state after the first d bits of v, so a
   * prefix shared by many bytes is stepped once (at most 510 bit steps instead of 2048) and a
   * dead or dynamic prefix settles its whole range of bytes at once.
   */
  private enumerate(out: Uint8Array): void {
    const stack = this.stack;
    out.fill(DEAD);
    let v = 0;
    let depth = 0;
    for (;;) {
      let r = OK;
      while (depth < 8) {
        const child = stack[depth + 1];
        child.copyFrom(stack[depth]);
        r = this.step(child, (v >> (7 - depth)) & 1);
        if (r !== OK) break;
        depth++;
      }
      // v's bits below the failing one are 0, so v starts the range of bytes it settles.
      const span = depth === 8 ? 1 : 1 << (7 - depth);
      if (r === OK) out[v] = OK;
      else if (r === DYNAMIC) out.fill(DYNAMIC, v, v + span);
      const next = v + span;
      if (next > 255) return;
      depth = Math.clz32(v ^ next) - 24; // bits shared with v: their states are still valid
      v = next;
    }
  }

  /** Feed one byte to `st`: OK (st advanced), DEAD (st garbage) or DYNAMIC (static mode only). */
  private feed(st: GrammarState, v: number): number {
    switch (st.mode) {
      case SCAN: {
        for (let i = 7; i >= 0; i--) {
          const r = this.step(st, (v >> i) & 1);
          if (r !== OK) return r;
        }
        const next = st.phase === PAD ? MARKER_FF : SCAN;
        if (v === 0xff) {
          st.mode = STUFF;
          st.afterStuff = next;
        } else st.mode = next;
        break;
      }
      case STUFF:
        if (v !== 0) return DEAD;
        st.mode = st.afterStuff;
        break;
      case MARKER_FF:
        if (v !== 0xff) return DEAD;
        st.mode = MARKER_CODE;
        break;
      case MARKER_CODE:
        if (v !== this.markerCode(st)) return DEAD;
        if (v === Marker.EOI) st.mode = DONE;
        else {
          st.restarts++;
          this.resetInterval(st);
        }
        break;
      case HEADER: {
        const header = this.core.header as Uint8Array;
        if (v !== header[st.headerPos]) return DEAD;
        if (++st.headerPos === header.length) st.mode = SCAN;
        break;
      }
      default: // DONE
        return DEAD;
    }
    st.offset++;
    return OK;
  }

  /** One bit of entropy-coded data (T.81 F.2.2.1 DECODE, F.2.2.2 decode_AC_coefficients). */
  private step(st: GrammarState, bit: number): number {
    const a = this.a;
    switch (st.phase) {
      case DC_HUFF: {
        const c = a.dc[a.blockDc[st.b]].tree.child[2 * st.node + bit];
        if (c === 0) return DEAD;
        if (c > 0) {
          st.node = c;
          return OK;
        }
        const cat = -c - 1;
        if (cat === 0) {
          this.startAc(st);
          return OK;
        }
        if (st.isStatic && cat > STATIC_MAX_DC_CATEGORY) return DYNAMIC;
        st.phase = DC_MAG;
        st.magCat = cat;
        st.magLeft = cat;
        st.magVal = 0;
        return OK;
      }
      case DC_MAG: {
        st.magVal = (st.magVal << 1) | bit;
        const left = --st.magLeft;
        const cat = st.magCat;
        // The codes still reachable form an interval; so do their values (T.81 F.2.2.1 EXTEND).
        const lo = st.magVal << left;
        const hi = lo + (1 << left) - 1;
        const negative = lo >> (cat - 1) === 0;
        const bias = negative ? (1 << cat) - 1 : 0;
        const p = st.pred[a.blockPred[st.b]];
        if (p + hi - bias < -DC_LIMIT || p + lo - bias > DC_LIMIT) return DEAD;
        if (left === 0) {
          st.pred[a.blockPred[st.b]] = p + lo - bias;
          this.startAc(st);
        }
        return OK;
      }
      case AC_HUFF: {
        const t = a.ac[a.blockAc[st.b]];
        const c = t.tree.child[2 * st.node + bit];
        if (c === 0) return DEAD;
        if (c > 0) {
          if (t.alive[(c * AC_K_ROWS + st.k) * 2 + st.zrl] === 0) return DEAD;
          st.node = c;
          return OK;
        }
        const sym = -c - 1;
        if (t.leafOk[(sym * AC_K_ROWS + st.k) * 2 + st.zrl] === 0) return DEAD;
        st.node = 0;
        if (sym === EOB) return this.endBlock(st);
        if (sym === ZRL) {
          st.k += 16;
          st.zrl = 1;
          return OK;
        }
        st.k += (sym >> 4) + 1;
        st.zrl = 0;
        st.phase = AC_MAG;
        st.magLeft = sym & 15;
        return OK;
      }
      case AC_MAG:
        if (--st.magLeft > 0) return OK;
        if (st.k > 63) return this.endBlock(st);
        st.phase = AC_HUFF;
        return OK;
      default: // PAD
        return bit === 1 ? OK : DEAD;
    }
  }

  private startAc(st: GrammarState): void {
    st.phase = AC_HUFF;
    st.node = 0;
    st.k = 1;
    st.zrl = 0;
  }

  private endBlock(st: GrammarState): number {
    const a = this.a;
    st.phase = DC_HUFF;
    st.node = 0;
    if (++st.b < a.blocksPerMcu) return OK;
    // End of an MCU.
    st.b = 0;
    if (st.isStatic) {
      if (st.lastUnknown) return DYNAMIC;
      if (!st.lastInInterval) {
        st.lastUnknown = 1;
        return OK;
      }
      st.phase = PAD;
      return OK;
    }
    st.mcuIndex++;
    if (st.lastInInterval) {
      st.phase = PAD;
      return OK;
    }
    st.mcusLeft--;
    st.lastInInterval = st.mcusLeft === 1 || st.mcuIndex === a.mcuCount - 1 ? 1 : 0;
    return OK;
  }
}

function describeByte(byte: number): string {
  return Number.isInteger(byte) && byte >= 0 && byte <= 255
    ? `0x${byte.toString(16).padStart(2, '0')}`
    : String(byte);
}
