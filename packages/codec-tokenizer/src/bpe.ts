/**
 * Byte-level BPE over JPEG scan bytes, with merges that never cross a marker.
 *
 * The byte stream is cut at every restart marker (FF D0..FF D7) and at EOI (FF D9). The pieces
 * between markers are encoded independently, and each marker is kept as its two plain byte
 * tokens, so MCU boundaries stay visible to the JPEG grammar and to prompt cutting. Any byte
 * stream is accepted (a stuffed FF 00 is ordinary data); encode/decode is lossless for all.
 *
 * Ids 0..255 are bytes; merge k (0-based) creates id 256 + k from an ordered pair of earlier ids.
 * Training is the classic greedy algorithm (Sennrich et al. 2016): repeatedly merge the most
 * frequent adjacent pair. Pair counts are kept up to date incrementally (only the neighbours of
 * each merged occurrence change), with a lazy max-heap, so one merge costs time proportional to
 * its occurrences, not to the corpus.
 */
import { CodecError } from './errors.js';
import { parseJsonInput } from './json-input.js';

export const BPE_FORMAT = 'jpeglm-bpe';
export const BPE_VERSION = 1;
/** Ids are stored as uint16, so at most 65536 - 256 merges. */
export const MAX_BPE_MERGES = 65536 - 256;

/** The JSON form of a trained BPE (`BytePairEncoding.toJSON`). */
export interface BpeFile {
  readonly format: typeof BPE_FORMAT;
  readonly version: number;
  /** Where merges may not reach across: always "jpeg-markers" (RST0..RST7 and EOI). */
  readonly boundaries: 'jpeg-markers';
  /** Merge k creates id 256 + k from the pair [left, right]. */
  readonly merges: readonly (readonly [number, number])[];
}

export interface BpeTrainOptions {
  /** How many merges to learn at most (the vocabulary is 256 + merges). */
  readonly merges: number;
  /** Stop early when the best pair occurs fewer times than this (default 2). */
  readonly minFrequency?: number;
  /** Called every few merges with (merges learnt, merges asked for). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** True for the second byte of a marker that BPE treats as a boundary: RST0..RST7, EOI. */
export function isBoundaryMarker(code: number): boolean {
  return (code >= 0xd0 && code <= 0xd7) || code === 0xd9;
}

/**
 * Call `piece(start, end)` for every run of bytes between boundary markers (possibly empty
 * runs are skipped) and `marker(offset)` for every boundary marker, in stream order.
 */
export function forEachPiece(
  bytes: Uint8Array,
  piece: (start: number, end: number) => void,
  marker: (offset: number) => void,
): void {
  const n = bytes.length;
  let start = 0;
  let i = bytes.indexOf(0xff);
  while (i >= 0 && i + 1 < n) {
    if (isBoundaryMarker(bytes[i + 1])) {
      if (i > start) piece(start, i);
      marker(i);
      start = i + 2;
      i = bytes.indexOf(0xff, start);
    } else {
      i = bytes.indexOf(0xff, i + 1);
    }
  }
  if (n > start) piece(start, n);
}

const PAIR = 65536;
const DEAD = -2;

/** A trained byte-level BPE. Immutable; safe to share. */
export class BytePairEncoding {
  readonly merges: readonly (readonly [number, number])[];
  /** Bytes of every id (0..vocabSize-1). */
  private readonly expansions: Uint8Array[];
  /** The same expansions laid end to end, for decode. */
  private readonly pool: Uint8Array;
  private readonly poolStart: Uint32Array;
  private readonly poolLength: Uint32Array;
  /** Open-addressing table from a pair (left << 16 | right) to its merge rank. */
  private readonly rankKeys: Uint32Array;
  private readonly rankValues: Int32Array;
  private readonly rankMask: number;
  // Scratch space reused across encode calls (JavaScript is single-threaded per isolate).
  private sym = new Int32Array(256);
  private next = new Int32Array(256);
  private prev = new Int32Array(256);
  private heap = new Float64Array(256);
  private heapSize = 0;

  constructor(merges: readonly (readonly [number, number])[]) {
    if (merges.length > MAX_BPE_MERGES) {
      throw new CodecError(
        'invalid-argument',
        `BPE has ${merges.length} merges; at most ${MAX_BPE_MERGES} fit uint16 ids`,
      );
    }
    const expansions: Uint8Array[] = [];
    for (let b = 0; b < 256; b++) expansions.push(Uint8Array.of(b));
    let size = 16;
    while (size < merges.length * 2) size <<= 1;
    this.rankKeys = new Uint32Array(size).fill(0xffffffff);
    this.rankValues = new Int32Array(size);
    this.rankMask = size - 1;
    merges.forEach(([a, b], k) => {
      const id = 256 + k;
      if (!isIdBelow(a, id) || !isIdBelow(b, id)) {
        throw new CodecError(
          'invalid-argument',
          `BPE merge ${k} [${a}, ${b}] must join two earlier ids (each below ${id})`,
        );
      }
      const ea = expansions[a];
      const eb = expansions[b];
      const e = new Uint8Array(ea.length + eb.length);
      e.set(ea);
      e.set(eb, ea.length);
      if (containsBoundary(e)) {
        throw new CodecError(
          'invalid-argument',
          `BPE merge ${k} [${a}, ${b}] would span a restart marker or EOI`,
        );
      }
      if (!this.insertRank((a << 16) | b, k)) {
        throw new CodecError('invalid-argument', `BPE merge ${k} [${a}, ${b}] is a duplicate`);
      }
      expansions.push(e);
    });
    this.merges = Object.freeze(merges.map(([a, b]) => Object.freeze([a, b] as const)));
    this.expansions = expansions;
    this.poolStart = new Uint32Array(expansions.length);
    this.poolLength = new Uint32Array(expansions.length);
    let poolSize = 0;
    for (const e of expansions) poolSize += e.length;
    this.pool = new Uint8Array(poolSize);
    let at = 0;
    expansions.forEach((e, id) => {
      this.poolStart[id] = at;
      this.poolLength[id] = e.length;
      this.pool.set(e, at);
      at += e.length;
    });
  }

  get vocabSize(): number {
    return 256 + this.merges.length;
  }

  /** The bytes an id stands for (a copy). */
  tokenBytes(id: number): Uint8Array {
    const e = this.expansions[id];
    if (!Number.isInteger(id) || e === undefined) {
      throw new CodecError('invalid-argument', `token ${id} is outside the BPE vocabulary`);
    }
    return e.slice();
  }

  /** Merge rank of the pair (a, b), or -1. */
  rank(a: number, b: number): number {
    const key = ((a << 16) | b) >>> 0;
    let h = Math.imul(key, 0x9e3779b1) >>> 0;
    for (;;) {
      h &= this.rankMask;
      const k = this.rankKeys[h];
      if (k === key) return this.rankValues[h];
      if (k === 0xffffffff) return -1;
      h++;
    }
  }

  private insertRank(key: number, rank: number): boolean {
    key >>>= 0;
    let h = Math.imul(key, 0x9e3779b1) >>> 0;
    for (;;) {
      h &= this.rankMask;
      const k = this.rankKeys[h];
      if (k === key) return false;
      if (k === 0xffffffff) {
        this.rankKeys[h] = key;
        this.rankValues[h] = rank;
        return true;
      }
      h++;
    }
  }

  /** Encode bytes to ids; markers come out as their two byte ids. Lossless for any input. */
  encode(bytes: Uint8Array): Uint16Array {
    let out = new Uint16Array(Math.max(16, bytes.length));
    let n = 0;
    forEachPiece(
      bytes,
      (start, end) => {
        n = this.encodePiece(bytes, start, end, out, n);
      },
      (at) => {
        out[n++] = bytes[at];
        out[n++] = bytes[at + 1];
      },
    );
    if (n < out.length) out = out.slice(0, n);
    return out;
  }

  /**
   * Apply the merges to bytes[start, end) and append the ids to `out` at `n`; returns the new
   * length. Pairs are merged in rank order and, for equal rank, left to right: exactly the order
   * training applied them, so training data encodes to the sequences training saw.
   */
  private encodePiece(
    bytes: Uint8Array,
    start: number,
    end: number,
    out: Uint16Array,
    n: number,
  ): number {
    const len = end - start;
    if (len === 1 || this.merges.length === 0) {
      for (let i = start; i < end; i++) out[n++] = bytes[i];
      return n;
    }
    this.reserve(len);
    return this.mergePiece(bytes, start, len, out, n);
  }

  /**
   * A linked list of symbols and a min-heap of candidate merges keyed by (rank, position);
   * entries made stale by an earlier merge are skipped when popped. O(n log n) in the piece
   * length, so a file without restart markers (one long piece) costs no more per byte.
   */
  private mergePiece(
    bytes: Uint8Array,
    start: number,
    len: number,
    out: Uint16Array,
    n: number,
  ): number {
    const { sym, next, prev } = this;
    this.heapSize = 0;
    for (let i = 0; i < len; i++) {
      sym[i] = bytes[start + i];
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    next[len - 1] = -1;
    for (let i = 0; i + 1 < len; i++) {
      const r = this.rank(sym[i], sym[i + 1]);
      if (r >= 0) this.heapPush(r * 4294967296 + i);
    }
    while (this.heapSize > 0) {
      const v = this.heapPop();
      const r = Math.floor(v / 4294967296);
      const p = v - r * 4294967296;
      const a = sym[p];
      if (a === DEAD) continue;
      const q = next[p];
      if (q < 0 || this.rank(a, sym[q]) !== r) continue;
      const z = 256 + r;
      sym[p] = z;
      sym[q] = DEAD;
      const after = next[q];
      next[p] = after;
      if (after >= 0) {
        prev[after] = p;
        const rr = this.rank(z, sym[after]);
        if (rr >= 0) this.heapPush(rr * 4294967296 + p);
      }
      const before = prev[p];
      if (before >= 0) {
        const rl = this.rank(sym[before], z);
        if (rl >= 0) this.heapPush(rl * 4294967296 + before);
      }
    }
    for (let i = 0; i >= 0; i = next[i]) out[n++] = sym[i];
    return n;
  }

  /** Heap entries pack (rank, position) into one double: rank * 2^32 + position. */
  private heapPush(v: number): void {
    let heap = this.heap;
    if (this.heapSize === heap.length) {
      const grown = new Float64Array(heap.length * 2);
      grown.set(heap);
      heap = this.heap = grown;
    }
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] <= v) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = v;
  }

  private heapPop(): number {
    const heap = this.heap;
    const top = heap[0];
    const size = --this.heapSize;
    const last = heap[size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && heap[c + 1] < heap[c]) c++;
      if (heap[c] >= last) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
    return top;
  }

  private reserve(len: number): void {
    if (this.sym.length >= len) return;
    let size = this.sym.length;
    while (size < len) size *= 2;
    this.sym = new Int32Array(size);
    this.next = new Int32Array(size);
    this.prev = new Int32Array(size);
    if (this.heap.length < size) this.heap = new Float64Array(size);
  }

  /** Decode ids to bytes. Throws on an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): Uint8Array {
    const { poolStart, poolLength, pool } = this;
    const vocab = poolStart.length;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < vocab && Number.isInteger(id))) {
        throw new CodecError(
          'invalid-argument',
          `token ${id} at position ${i} is outside the BPE vocabulary (0..${vocab - 1})`,
        );
      }
      total += poolLength[id];
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < 256) out[o++] = id;
      else {
        // Expansions are short; a plain loop beats TypedArray.set's call overhead here.
        for (let k = poolStart[id], e = k + poolLength[id]; k < e; k++) out[o++] = pool[k];
      }
    }
    return out;
  }

  toJSON(): BpeFile {
    return {
      format: BPE_FORMAT,
      version: BPE_VERSION,
      boundaries: 'jpeg-markers',
      merges: this.merges.map(([a, b]) => [a, b] as const),
    };
  }

  /** Read the JSON form (an object or its text), checking every field. */
  static fromJSON(json: unknown): BytePairEncoding {
    const o = parseJsonInput(json);
    const bad = (why: string): never => {
      throw new CodecError('invalid-argument', `not a jpeglm BPE file: ${why}`);
    };
    if (typeof o !== 'object' || o === null) return bad('not a JSON object');
    const f = o as Record<string, unknown>;
    if (f.format !== BPE_FORMAT) bad(`"format" must be "${BPE_FORMAT}"`);
    if (f.version !== BPE_VERSION)
      bad(`unsupported version ${String(f.version)} (this reads ${BPE_VERSION})`);
    if (f.boundaries !== 'jpeg-markers') bad('"boundaries" must be "jpeg-markers"');
    if (!Array.isArray(f.merges)) return bad('"merges" must be an array');
    const merges = f.merges.map((m, k): [number, number] => {
      if (!Array.isArray(m) || m.length !== 2 || !m.every((x) => Number.isInteger(x)))
        bad(`merge ${k} must be a pair of integer ids`);
      return [m[0] as number, m[1] as number];
    });
    return new BytePairEncoding(merges);
  }

  /**
   * Learn merges from a corpus of byte streams (canonical scan bytes, typically). Identical
   * pieces are counted once with a weight, which on JPEG corpora (one piece per MCU) shrinks the
   * working set several times. Deterministic: ties go to the numerically smallest pair.
   */
  static train(corpus: Iterable<Uint8Array>, options: BpeTrainOptions): BytePairEncoding {
    return new BytePairEncoding(trainMerges(corpus, options));
  }
}

function isIdBelow(x: number, limit: number): boolean {
  return Number.isInteger(x) && x >= 0 && x < limit;
}

function containsBoundary(e: Uint8Array): boolean {
  for (let i = 0; i + 1 < e.length; i++)
    if (e[i] === 0xff && isBoundaryMarker(e[i + 1])) return true;
  return false;
}

/** Max-heap of (count, pair key) with lazy deletion; ties pop the smaller key first. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Remove the top; returns [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastC = this.counts.pop() as number;
    const lastK = this.keys.pop() as number;
    const n = this.keys.length;
    if (n > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.above(l, m)) m = l;
        if (r < n && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

function trainMerges(corpus: Iterable<Uint8Array>, options: BpeTrainOptions): [number, number][] {
  const wanted = options.merges;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > MAX_BPE_MERGES) {
    throw new CodecError('invalid-argument', `merges must be an integer 0..${MAX_BPE_MERGES}`);
  }
  const minFrequency = options.minFrequency ?? 2;

  // 1. Distinct pieces with their multiplicity.
  const index = new Map<string, number>();
  const pieces: Uint8Array[] = [];
  const weights: number[] = [];
  let total = 0;
  for (const stream of corpus) {
    const buf = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
    forEachPiece(
      stream,
      (start, end) => {
        if (end - start < 2) return; // nothing to merge in a single byte
        const key = buf.toString('latin1', start, end);
        const k = index.get(key);
        if (k === undefined) {
          index.set(key, pieces.length);
          pieces.push(stream.slice(start, end));
          weights.push(1);
          total += end - start;
        } else weights[k]++;
      },
      () => {},
    );
  }
  index.clear();

  // 2. All pieces laid end to end as doubly linked lists of symbols.
  const sym = new Int32Array(total);
  const next = new Int32Array(total);
  const prev = new Int32Array(total);
  const weight = new Int32Array(total);
  const counts = new Map<number, number>();
  const where = new Map<number, number[]>();
  let o = 0;
  for (let k = 0; k < pieces.length; k++) {
    const piece = pieces[k];
    const w = weights[k];
    for (let i = 0; i < piece.length; i++, o++) {
      sym[o] = piece[i];
      weight[o] = w;
      prev[o] = i === 0 ? -1 : o - 1;
      next[o] = i === piece.length - 1 ? -1 : o + 1;
      if (i > 0) {
        const key = piece[i - 1] * PAIR + piece[i];
        counts.set(key, (counts.get(key) ?? 0) + w);
        const list = where.get(key);
        if (list) list.push(o - 1);
        else where.set(key, [o - 1]);
      }
    }
  }
  pieces.length = 0;

  const heap = new PairHeap();
  for (const [key, c] of counts) heap.push(c, key);

  const merges: [number, number][] = [];
  const grown = new Set<number>();
  const add = (key: number, w: number, at: number): void => {
    counts.set(key, (counts.get(key) ?? 0) + w);
    const list = where.get(key);
    if (list) list.push(at);
    else where.set(key, [at]);
    grown.add(key);
  };
  const remove = (key: number, w: number): void => {
    const c = (counts.get(key) ?? 0) - w;
    if (c > 0) counts.set(key, c);
    else counts.delete(key);
  };

  while (merges.length < wanted && heap.size > 0) {
    const [c, key] = heap.pop();
    const current = counts.get(key) ?? 0;
    if (current !== c) {
      // Stale entry: the count fell since it was pushed. Requeue at its true count.
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(key / PAIR);
    const b = key - a * PAIR;
    const z = 256 + merges.length;
    merges.push([a, b]);
    const positions = Int32Array.from(where.get(key) ?? []).sort();
    where.delete(key);
    grown.clear();
    for (let j = 0; j < positions.length; j++) {
      const p = positions[j];
      if (sym[p] !== a) continue;
      const q = next[p];
      if (q < 0 || sym[q] !== b) continue;
      const w = weight[p];
      const l = prev[p];
      const r = next[q];
      remove(key, w);
      if (l >= 0) {
        remove(sym[l] * PAIR + a, w);
        add(sym[l] * PAIR + z, w, l);
      }
      if (r >= 0) {
        remove(b * PAIR + sym[r], w);
        add(z * PAIR + sym[r], w, p);
      }
      sym[p] = z;
      sym[q] = DEAD;
      next[p] = r;
      if (r >= 0) prev[r] = p;
    }
    counts.delete(key);
    for (const k of grown) {
      const n = counts.get(k);
      if (n !== undefined) heap.push(n, k);
    }
    if (options.onProgress && merges.length % 64 === 0) options.onProgress(merges.length, wanted);
  }
  options.onProgress?.(merges.length, wanted);
  return merges;
}
