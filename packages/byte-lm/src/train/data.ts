/**
 * Batches of packed sequences from token shards, the way llm.c and nanoGPT pack: the shards of a
 * split are one token stream (samples [BOS, class, bytes..., EOS] back to back), cut into
 * windows of seqLen + 1 tokens at stride seqLen; a window gives inputs w[0..L-1] and targets
 * w[1..L]. Attention runs across sample boundaries inside a window (the model learns that BOS
 * starts afresh); RoPE only sees relative offsets, so positions are simply 0..L-1.
 *
 * - Training order: each epoch visits every window once, in a permutation drawn from the seed
 *   (Fisher-Yates with xoshiro128**, stream = epoch), B windows per micro-batch; an epoch's
 *   leftover windows (fewer than B) are skipped. The data position is (epoch, cursor): nothing
 *   else is needed to resume exactly.
 * - Class-label dropout (classifier-free guidance, Ho & Salimans 2022): each sample's class token
 *   becomes NULL_CLASS with probability p, decided by a hash of (seed, epoch, sample start), so
 *   the decision needs no generator state and is the same wherever the sample is cut.
 * - Targets not scored (IGNORE_INDEX): the class token (a condition, not content), PAD, and, in
 *   validation, BOS (not a byte of any file), matching `scoreSequence` in score.ts.
 */

import { BOS_ID, NULL_CLASS_ID, PAD_ID } from '@jpeglm/codec-tokenizer';
import type { DatasetTokenizer } from '../dataset/prep.js';
import { Xoshiro128 } from '../prng.js';
import { ModelError } from '../model-error.js';
import { Shard, type ShardFiles } from './shards.js';
import { IGNORE_INDEX } from './train-graph.js';

/** A split's shards as one stream of tokens. */
export class TokenStream {
  private constructor(
    readonly shards: readonly Shard[],
    /** Global position of each shard's first token. */
    private readonly offsets: readonly number[],
    readonly length: number,
    /** Global positions of the sample starts (BOS), ascending. */
    readonly sampleStarts: Float64Array,
  ) {}

  static async open(
    files: readonly ShardFiles[],
    tokenizer: DatasetTokenizer,
  ): Promise<TokenStream> {
    const shards: Shard[] = [];
    try {
      for (const f of files) shards.push(await Shard.open(f, tokenizer));
    } catch (e) {
      shards.forEach((s) => s.close());
      throw e;
    }
    const offsets: number[] = [];
    let total = 0;
    let samples = 0;
    for (const s of shards) {
      offsets.push(total);
      total += s.tokens;
      samples += s.sampleStarts.length;
    }
    const starts = new Float64Array(samples);
    let k = 0;
    shards.forEach((s, i) => {
      for (const p of s.sampleStarts) starts[k++] = offsets[i] + p;
    });
    return new TokenStream(shards, offsets, total, starts);
  }

  /** Tokens [start, start + out.length), across shard boundaries. */
  read(start: number, out: Uint16Array): void {
    let pos = start;
    let done = 0;
    let i = upperBound(this.offsets, pos) - 1;
    while (done < out.length) {
      const shard = this.shards[i];
      const local = pos - this.offsets[i];
      const n = Math.min(out.length - done, shard.tokens - local);
      if (n > 0) shard.read(local, out.subarray(done, done + n));
      done += n;
      pos += n;
      i++;
    }
  }

  /** Sample starts s with lo <= s < hi. */
  startsIn(lo: number, hi: number): number[] {
    const out: number[] = [];
    for (let k = upperBound(this.sampleStarts, lo - 1); k < this.sampleStarts.length; k++) {
      const s = this.sampleStarts[k];
      if (s >= hi) break;
      out.push(s);
    }
    return out;
  }

  close(): void {
    this.shards.forEach((s) => s.close());
  }
}

/** Number of entries of the ascending array `a` that are <= x. */
function upperBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** MurmurHash3's fmix32 finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) determined by (seed, epoch, position). */
export function unitHash(seed: number, epoch: number, position: number): number {
  let h = fmix32((seed ^ 0x9e3779b9) >>> 0);
  h = fmix32((h ^ epoch) >>> 0);
  h = fmix32((h ^ position) >>> 0);
  h = fmix32((h ^ Math.floor(position / 2 ** 32)) >>> 0);
  return h / 2 ** 32;
}

/** One micro-batch, row-major [rows, seqLen], ready for the training graphs. */
export interface Batch {
  readonly rows: number;
  readonly seqLen: number;
  readonly inputIds: BigInt64Array;
  readonly targets: BigInt64Array;
  readonly positionIds: BigInt64Array;
  /** Targets that are scored (not IGNORE_INDEX). */
  readonly scored: number;
}

export interface PackOptions {
  readonly seqLen: number;
  /** Probability of replacing a sample's class token by NULL_CLASS (training only). */
  readonly classDropout: number;
  readonly seed: number;
  /** Validation: also leave BOS targets unscored. */
  readonly skipBosTargets?: boolean;
}

/** Build a batch from windows starting at the given stream positions. */
export function packWindows(
  stream: TokenStream,
  starts: readonly number[],
  epoch: number,
  o: PackOptions,
): Batch {
  const L = o.seqLen;
  const rows = starts.length;
  const inputIds = new BigInt64Array(rows * L);
  const targets = new BigInt64Array(rows * L);
  const positionIds = new BigInt64Array(rows * L);
  const w = new Uint16Array(L + 1);
  let scored = 0;
  for (let r = 0; r < rows; r++) {
    const start = starts[r];
    stream.read(start, w);
    const classAt = new Set<number>();
    for (const s of stream.startsIn(start - 1, start + L + 1)) {
      const c = s + 1 - start; // window index of the sample's class token
      if (c < 0 || c > L) continue;
      classAt.add(c);
      if (o.classDropout > 0 && unitHash(o.seed, epoch, s) < o.classDropout) w[c] = NULL_CLASS_ID;
    }
    const base = r * L;
    for (let i = 0; i < L; i++) {
      inputIds[base + i] = BigInt(w[i]);
      positionIds[base + i] = BigInt(i);
      const t = w[i + 1];
      const ignored =
        t === PAD_ID || classAt.has(i + 1) || (o.skipBosTargets === true && t === BOS_ID);
      targets[base + i] = BigInt(ignored ? IGNORE_INDEX : t);
      if (!ignored) scored++;
    }
  }
  return { rows, seqLen: L, inputIds, targets, positionIds, scored };
}

/** Where the training loader stands: epoch and windows consumed within it. */
export interface DataPosition {
  readonly epoch: number;
  readonly cursor: number;
}

export interface LoaderOptions extends PackOptions {
  readonly batchSize: number;
}

/** Number of (seqLen + 1)-token windows at stride seqLen in `tokens` tokens. */
export function windowCount(tokens: number, seqLen: number): number {
  return tokens > seqLen ? Math.floor((tokens - 1) / seqLen) : 0;
}

/** Training micro-batches in a seeded order per epoch, resumable from a DataPosition. */
export class BatchLoader {
  readonly windows: number;
  private epoch: number;
  private cursor: number;
  private order: Uint32Array | undefined;
  private orderEpoch = -1;

  constructor(
    readonly stream: TokenStream,
    readonly options: LoaderOptions,
    position: DataPosition = { epoch: 0, cursor: 0 },
  ) {
    this.windows = windowCount(stream.length, options.seqLen);
    if (this.windows < options.batchSize) {
      throw new ModelError(
        'invalid-argument',
        `the training data has ${stream.length} tokens: ${this.windows} windows of ${options.seqLen + 1} tokens, fewer than one batch of ${options.batchSize}`,
      );
    }
    if (
      !Number.isInteger(position.cursor) ||
      position.cursor < 0 ||
      position.cursor > this.windows
    ) {
      throw new ModelError('corrupt', `data position ${position.cursor} is past the data's end`);
    }
    this.epoch = position.epoch;
    this.cursor = position.cursor;
  }

  get position(): DataPosition {
    return { epoch: this.epoch, cursor: this.cursor };
  }

  /** The window order of an epoch: a seeded permutation of 0 .. windows-1. */
  permutation(epoch: number): Uint32Array {
    if (this.orderEpoch === epoch && this.order) return this.order;
    const perm = new Uint32Array(this.windows);
    for (let i = 0; i < perm.length; i++) perm[i] = i;
    const rng = new Xoshiro128(this.options.seed >>> 0, epoch >>> 0);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rng.nextFloat() * (i + 1));
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    this.order = perm;
    this.orderEpoch = epoch;
    return perm;
  }

  next(): Batch {
    const B = this.options.batchSize;
    if (this.cursor + B > this.windows) {
      this.epoch++;
      this.cursor = 0;
    }
    const perm = this.permutation(this.epoch);
    const starts = Array.from(
      perm.subarray(this.cursor, this.cursor + B),
      (k) => k * this.options.seqLen,
    );
    const batch = packWindows(this.stream, starts, this.epoch, this.options);
    this.cursor += B;
    return batch;
  }
}

/**
 * Validation batches: at most maxBatches x batchSize windows, spread evenly over the whole stream
 * (all of them, in order, when they fit), no dropout, BOS targets unscored. Spread, because a
 * prepared val split is sorted (by class, then file): its first windows are a few classes only.
 */
export function* validationBatches(
  stream: TokenStream,
  o: { batchSize: number; seqLen: number; maxBatches: number },
): Generator<Batch> {
  const windows = windowCount(stream.length, o.seqLen);
  const n = Math.min(windows, o.maxBatches * o.batchSize);
  const starts = Array.from({ length: n }, (_, i) => Math.floor((i * windows) / n) * o.seqLen);
  for (let b = 0; b < n; b += o.batchSize) {
    yield packWindows(stream, starts.slice(b, b + o.batchSize), 0, {
      seqLen: o.seqLen,
      classDropout: 0,
      seed: 0,
      skipBosTargets: true,
    });
  }
}
