/**
 * OnnxCausalLM: the CausalLM interface on ONNX Runtime (onnxruntime-node, CPU).
 *
 * Two KV-cache designs, both from llama-graph.ts:
 *
 * - `buffer` (default): the cache is a JavaScript-owned [batch, kvHeads, capacity, headDim]
 *   buffer per layer, fed to the graph as an input (onnxruntime-node passes inputs without
 *   copying) with the unused slots masked out; the graph returns only the new tokens' K/V, which
 *   are written into the buffer here. onnxruntime-node copies every *output* into fresh
 *   JavaScript memory, so the Optimum design (past + new K/V out on every step) costs a copy of
 *   the whole cache per step, and GroupQueryAttention's in-place shared buffer would too (its
 *   present output is the whole buffer). Capacity grows in chunks, so a step copies nothing
 *   proportional to the context and attends over at most one chunk of empty slots.
 * - `optimum`: the Optimum / transformers.js I/O (past_key_values.* in, present.* out). Used for
 *   ONNX files exported by Optimum (`fromOnnxFile`) and as the reference design.
 */

import os from 'node:os';
import { promises as fs } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { CausalLM, ForwardInput, ForwardOutput, KvCache } from './causal-lm.js';
import type { LlamaConfig } from './config.js';
import {
  buildLlamaOnnx,
  ATTENTION_BIAS,
  MASKED_SCORE,
  NEW_KEY_VALUES,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
  type WeightFormat,
} from './llama-graph.js';
import { loadModelDir } from './model-dir.js';
import { ModelError } from './model-error.js';
import { checkForwardInput, lastPositionLogits } from './reference.js';
import type { LlamaModel } from './weights.js';

export interface OnnxRuntimeOptions {
  /** KV-cache design (default 'buffer'). */
  readonly cache?: 'buffer' | 'optimum';
  /** ORT contrib ops and packed projections (default true; see LlamaGraphOptions.fused). */
  readonly fused?: boolean;
  /** Projection weights as float32 (default), int8 or int4 (MatMulNBits; needs `fused`). */
  readonly weightFormat?: WeightFormat;
  /** int8/int4 weights: activation precision (see LlamaGraphOptions.quantizedCompute). */
  readonly quantizedCompute?: 'int8' | 'float32';
  /** ORT intra-op threads; default: the number of CPUs available to this process. */
  readonly intraOpNumThreads?: number;
  /**
   * Largest attention-score tensor one graph run may create (batch x heads x new tokens x keys,
   * float32 elements; default 2^25 = 128 MiB). A longer input is run in chunks of tokens, with
   * the same result, so a long prompt at a large batch does not exhaust memory.
   */
  readonly maxAttentionScores?: number;
}

const DEFAULT_MAX_ATTENTION_SCORES = 2 ** 25;

/** Layout facts the runtime needs, from a config or from an ONNX file's I/O metadata. */
interface DecoderShape {
  readonly layers: number;
  /** Query heads (for sizing attention scores; the KV head count when a file does not say). */
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
}

/** Buffer capacity grows in multiples of this many slots (and by at least 1/8). */
const CAPACITY_CHUNK = 64;

function sessionOptions(threads: number | undefined): ort.InferenceSession.SessionOptions {
  const n = threads ?? os.availableParallelism();
  if (!Number.isInteger(n) || n < 1) {
    throw new ModelError(
      'invalid-argument',
      `intraOpNumThreads must be a positive integer, got ${n}`,
    );
  }
  return {
    intraOpNumThreads: n,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

function int64(values: ArrayLike<number>): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
}

/** Optimum-design cache: ORT tensors [batch, kvHeads, length, headDim] per layer. */
class OptimumKvCache implements KvCache {
  constructor(
    readonly owner: OnnxCausalLM,
    readonly batch: number,
    readonly length: number,
    readonly keys: readonly ort.Tensor[],
    readonly values: readonly ort.Tensor[],
  ) {}
}

/** Buffer-design cache: slots 0..length-1 of [batch, kvHeads, capacity, headDim] per layer. */
class BufferKvCache implements KvCache {
  constructor(
    readonly owner: OnnxCausalLM,
    readonly batch: number,
    readonly length: number,
    readonly capacity: number,
    readonly keys: readonly Float32Array[],
    readonly values: readonly Float32Array[],
  ) {}
}

export class OnnxCausalLM implements CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly cacheDesign: 'buffer' | 'optimum';
  private readonly shape: DecoderShape;
  private readonly session: ort.InferenceSession;
  private readonly inputNames: ReadonlySet<string>;
  private readonly maxScores: number;
  private disposed = false;

  private constructor(
    session: ort.InferenceSession,
    design: 'buffer' | 'optimum',
    shape: DecoderShape,
    maxScores = DEFAULT_MAX_ATTENTION_SCORES,
  ) {
    if (!Number.isFinite(maxScores) || maxScores < 1) {
      throw new ModelError(
        'invalid-argument',
        `maxAttentionScores must be positive, got ${maxScores}`,
      );
    }
    this.maxScores = maxScores;
    this.session = session;
    this.cacheDesign = design;
    this.shape = shape;
    this.vocabSize = shape.vocabSize;
    this.maxPositions = shape.maxPositions;
    this.inputNames = new Set(session.inputNames);
  }

  /** Build the graph for a model and open an ORT session on it. */
  static async create(model: LlamaModel, options: OnnxRuntimeOptions = {}): Promise<OnnxCausalLM> {
    const c = model.config;
    const cache = options.cache ?? 'buffer';
    const bytes = buildLlamaOnnx(c, model.weights, {
      cache,
      fused: options.fused ?? true,
      weightFormat: options.weightFormat ?? 'float32',
      ...(options.quantizedCompute ? { quantizedCompute: options.quantizedCompute } : {}),
    });
    const session = await ort.InferenceSession.create(
      bytes,
      sessionOptions(options.intraOpNumThreads),
    );
    return new OnnxCausalLM(session, cache, configShape(c), options.maxAttentionScores);
  }

  static async fromModelDir(dir: string, options: OnnxRuntimeOptions = {}): Promise<OnnxCausalLM> {
    return OnnxCausalLM.create(await loadModelDir(dir), options);
  }

  /**
   * Open a decoder ONNX file with Optimum / transformers.js I/O names (input_ids,
   * attention_mask, optional position_ids, past_key_values.{i}.key|value -> logits,
   * present.{i}.key|value; float32 KV). KV heads, head size and, when static, the vocabulary
   * size come from the file's I/O metadata; `config` supplies what the file cannot.
   */
  static async fromOnnxFile(
    file: string | Uint8Array,
    options: { config?: LlamaConfig; intraOpNumThreads?: number; maxAttentionScores?: number } = {},
  ): Promise<OnnxCausalLM> {
    let bytes: Uint8Array;
    if (typeof file === 'string') {
      const st = await fs.stat(file).catch(() => undefined);
      if (!st || !st.isFile()) throw new ModelError('io', `${file}: no such ONNX file`);
      // One protobuf message cannot exceed 2 GiB; refuse before reading anything larger.
      if (st.size >= 2 ** 31) {
        throw new ModelError(
          'too-large',
          `${file}: ${st.size} bytes is more than an ONNX protobuf can hold`,
        );
      }
      bytes = new Uint8Array(await fs.readFile(file));
    } else {
      bytes = file;
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions(options.intraOpNumThreads));
    } catch (e) {
      throw new ModelError(
        'corrupt',
        `not a loadable ONNX model (${(e as Error).message.split('\n')[0]})`,
      );
    }
    return new OnnxCausalLM(
      session,
      'optimum',
      onnxFileShape(session, options.config),
      options.maxAttentionScores,
    );
  }

  newCache(batch: number): KvCache {
    this.assertOpen();
    if (!Number.isInteger(batch) || batch < 1) {
      throw new ModelError('invalid-argument', `batch must be a positive integer, got ${batch}`);
    }
    const { layers, kvHeads, headDim } = this.shape;
    if (this.cacheDesign === 'optimum') {
      const empty = (): ort.Tensor =>
        new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim]);
      return new OptimumKvCache(
        this,
        batch,
        0,
        Array.from({ length: layers }, empty),
        Array.from({ length: layers }, empty),
      );
    }
    return this.allocate(batch, 0, 0);
  }

  private allocate(batch: number, length: number, capacity: number): BufferKvCache {
    const { layers, kvHeads, headDim } = this.shape;
    const n = batch * kvHeads * capacity * headDim;
    return new BufferKvCache(
      this,
      batch,
      length,
      capacity,
      Array.from({ length: layers }, () => new Float32Array(n)),
      Array.from({ length: layers }, () => new Float32Array(n)),
    );
  }

  async forward(
    cache: KvCache,
    input: ForwardInput,
    options: { allPositions?: boolean } = {},
  ): Promise<ForwardOutput> {
    this.assertOpen();
    const allPositions = options.allPositions ?? false;
    let run: (c: KvCache, x: ForwardInput) => Promise<ForwardOutput>;
    if (cache instanceof OptimumKvCache && cache.owner === this) {
      run = (c, x) => this.forwardOptimum(c as OptimumKvCache, x, allPositions);
    } else if (cache instanceof BufferKvCache && cache.owner === this) {
      run = (c, x) => this.forwardBuffer(c as BufferKvCache, x, allPositions);
    } else {
      throw new ModelError('invalid-argument', 'cache was not made by this model');
    }
    const B = cache.batch;
    const S = input.seqLen;
    const P = cache.length;
    this.checkInput(B, P, input);
    // Scores of one run: B x heads x n x (keys <= P + S + a capacity chunk).
    const perToken = B * this.shape.heads * (P + S + CAPACITY_CHUNK);
    const chunk = Math.max(1, Math.floor(this.maxScores / perToken));
    if (chunk >= S) return run(cache, input);
    const V = this.vocabSize;
    const logits = new Float32Array(B * (allPositions ? S : 1) * V);
    let c: KvCache = cache;
    for (let off = 0; off < S; off += chunk) {
      const n = Math.min(chunk, S - off);
      const r = await run(c, sliceInput(input, B, P, off, n));
      c = r.cache;
      if (allPositions) {
        for (let b = 0; b < B; b++) {
          logits.set(r.logits.subarray(b * n * V, (b + 1) * n * V), (b * S + off) * V);
        }
      } else if (off + n === S) {
        logits.set(r.logits);
      }
    }
    return { logits, cache: c };
  }

  private checkInput(batch: number, past: number, input: ForwardInput): void {
    checkForwardInput(
      { vocabSize: this.vocabSize, maxPositionEmbeddings: this.maxPositions },
      batch,
      past,
      input,
    );
  }

  /** position_ids [B, S]: the caller's, or past + s. */
  private positions(batch: number, past: number, input: ForwardInput): ort.Tensor {
    const S = input.seqLen;
    const pos = new BigInt64Array(batch * S);
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < S; s++) {
        pos[b * S + s] = BigInt(input.positionIds ? input.positionIds[b * S + s] : past + s);
      }
    }
    return new ort.Tensor('int64', pos, [batch, S]);
  }

  private async forwardOptimum(
    cache: OptimumKvCache,
    input: ForwardInput,
    allPositions: boolean,
  ): Promise<ForwardOutput> {
    const B = cache.batch;
    const S = input.seqLen;
    const P = cache.length;
    const T = P + S;
    this.checkInput(B, P, input);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', int64(input.inputIds), [B, S]),
    };
    if (this.inputNames.has('attention_mask')) {
      const mask = new BigInt64Array(B * T);
      if (input.attentionMask) {
        for (let i = 0; i < mask.length; i++) mask[i] = input.attentionMask[i] ? 1n : 0n;
      } else {
        mask.fill(1n);
      }
      feeds.attention_mask = new ort.Tensor('int64', mask, [B, T]);
    }
    if (this.inputNames.has('position_ids')) feeds.position_ids = this.positions(B, P, input);
    if (this.inputNames.has('use_cache_branch')) {
      // Optimum's merged decoder: the with-past branch once there is a past.
      feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([P > 0 ? 1 : 0]), [1]);
    }
    for (let i = 0; i < this.shape.layers; i++) {
      feeds[pastKeyName(i)] = cache.keys[i];
      feeds[pastValueName(i)] = cache.values[i];
    }
    const out = await this.session.run(feeds);
    const keys: ort.Tensor[] = [];
    const values: ort.Tensor[] = [];
    for (let i = 0; i < this.shape.layers; i++) {
      keys.push(out[presentKeyName(i)] as ort.Tensor);
      values.push(out[presentValueName(i)] as ort.Tensor);
    }
    const raw = out.logits.data as Float32Array;
    const rows = out.logits.dims[1];
    const logits = allPositions ? raw : lastPositionLogits(raw, B, rows, this.vocabSize);
    return { logits, cache: new OptimumKvCache(this, B, T, keys, values) };
  }

  private async forwardBuffer(
    cacheIn: BufferKvCache,
    input: ForwardInput,
    allPositions: boolean,
  ): Promise<ForwardOutput> {
    const B = cacheIn.batch;
    const S = input.seqLen;
    const L = cacheIn.length;
    this.checkInput(B, L, input);
    // The graph reads the buffer as it is (its empty slots masked); it grows afterwards if the
    // new tokens do not fit, so a prompt never attends over its own future slots.
    const C = cacheIn.capacity;
    const { layers, kvHeads, headDim: D } = this.shape;
    // Additive bias over keys [C buffer slots | S new tokens]: query s sees filled slots the
    // caller's mask keeps and new tokens up to itself; empty slots stay hidden.
    const K = C + S;
    const bias = new Float32Array(B * S * K).fill(MASKED_SCORE);
    const given = input.attentionMask;
    for (let b = 0; b < B; b++) {
      const keep = (t: number): boolean => !given || given[b * (L + S) + t] !== 0;
      for (let s = 0; s < S; s++) {
        const row = (b * S + s) * K;
        for (let t = 0; t < L; t++) if (keep(t)) bias[row + t] = 0;
        for (let j = 0; j <= s; j++) if (keep(L + j)) bias[row + C + j] = 0;
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', int64(input.inputIds), [B, S]),
      [ATTENTION_BIAS]: new ort.Tensor('float32', bias, [B, 1, S, K]),
      position_ids: this.positions(B, L, input),
    };
    const dims = [B, kvHeads, C, D];
    for (let i = 0; i < layers; i++) {
      feeds[pastKeyName(i)] = new ort.Tensor('float32', cacheIn.keys[i], dims);
      feeds[pastValueName(i)] = new ort.Tensor('float32', cacheIn.values[i], dims);
    }
    const out = await this.session.run(feeds);
    const cache = L + S > C ? this.grow(cacheIn, L + S) : cacheIn;
    const cap = cache.capacity;
    // Write the new tokens' K/V (layer i: keys at rows 2iB.., values at (2i+1)B.. of
    // [2 layers B, kvHeads, S, D]) into slots L .. L+S-1.
    const packed = out[NEW_KEY_VALUES].data as Float32Array;
    const run = S * D;
    const rows = B * kvHeads;
    for (let i = 0; i < layers; i++) {
      const keys = cache.keys[i];
      const values = cache.values[i];
      const kFrom = 2 * i * rows * run;
      const vFrom = (2 * i + 1) * rows * run;
      for (let r = 0; r < rows; r++) {
        const to = (r * cap + L) * D;
        keys.set(packed.subarray(kFrom + r * run, kFrom + (r + 1) * run), to);
        values.set(packed.subarray(vFrom + r * run, vFrom + (r + 1) * run), to);
      }
    }
    const raw = out.logits.data as Float32Array;
    const logits = allPositions ? raw : lastPositionLogits(raw, B, S, this.vocabSize);
    return {
      logits,
      cache: new BufferKvCache(this, B, L + S, cap, cache.keys, cache.values),
    };
  }

  /** A copy of the cache with room for at least `needed` slots per row. */
  private grow(cache: BufferKvCache, needed: number): BufferKvCache {
    const step = Math.max(
      CAPACITY_CHUNK,
      Math.ceil(cache.capacity / 8 / CAPACITY_CHUNK) * CAPACITY_CHUNK,
    );
    const capacity = Math.ceil(needed / step) * step;
    const next = this.allocate(cache.batch, cache.length, capacity);
    copyRows(cache, next, [...Array(cache.batch).keys()], this.shape);
    return next;
  }

  selectRows(cache: KvCache, rows: readonly number[]): KvCache {
    this.assertOpen();
    if (rows.length === 0)
      throw new ModelError('invalid-argument', 'selectRows needs at least one row');
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= cache.batch) {
        throw new ModelError(
          'invalid-argument',
          `row ${r} is not in a cache of ${cache.batch} rows`,
        );
      }
    }
    const { kvHeads, headDim } = this.shape;
    if (cache instanceof OptimumKvCache && cache.owner === this) {
      const chunk = kvHeads * cache.length * headDim;
      const pick = (t: ort.Tensor): ort.Tensor => {
        const src = t.data as Float32Array;
        const out = new Float32Array(rows.length * chunk);
        rows.forEach((r, i) => out.set(src.subarray(r * chunk, (r + 1) * chunk), i * chunk));
        return new ort.Tensor('float32', out, [rows.length, kvHeads, cache.length, headDim]);
      };
      return new OptimumKvCache(
        this,
        rows.length,
        cache.length,
        cache.keys.map(pick),
        cache.values.map(pick),
      );
    }
    if (cache instanceof BufferKvCache && cache.owner === this) {
      const next = this.allocate(rows.length, cache.length, cache.capacity);
      copyRows(cache, next, rows, this.shape);
      return next;
    }
    throw new ModelError('invalid-argument', 'cache was not made by this model');
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }

  private assertOpen(): void {
    if (this.disposed) throw new ModelError('invalid-argument', 'the model has been disposed');
  }
}

/** Tokens off .. off+n-1 of every row of `input` (past length P), as a request of its own. */
function sliceInput(
  input: ForwardInput,
  B: number,
  P: number,
  off: number,
  n: number,
): ForwardInput {
  const S = input.seqLen;
  const ids = new Int32Array(B * n);
  for (let b = 0; b < B; b++) ids.set(input.inputIds.subarray(b * S + off, b * S + off + n), b * n);
  let mask: Uint8Array | undefined;
  if (input.attentionMask) {
    const T = P + off + n;
    mask = new Uint8Array(B * T);
    for (let b = 0; b < B; b++) {
      mask.set(input.attentionMask.subarray(b * (P + S), b * (P + S) + T), b * T);
    }
  }
  // The default positions (past + s) must stay those of the whole request.
  const pos = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < n; s++) {
      pos[b * n + s] = input.positionIds ? input.positionIds[b * S + off + s] : P + off + s;
    }
  }
  return {
    inputIds: ids,
    seqLen: n,
    positionIds: pos,
    ...(mask ? { attentionMask: mask } : {}),
  };
}

/** Copy the filled slots of rows `rows` of `from` into rows 0.. of `to`. */
function copyRows(
  from: BufferKvCache,
  to: BufferKvCache,
  rows: readonly number[],
  s: DecoderShape,
): void {
  const D = s.headDim;
  const n = from.length * D;
  for (let l = 0; l < s.layers; l++) {
    for (const [src, dst] of [
      [from.keys[l], to.keys[l]],
      [from.values[l], to.values[l]],
    ] as const) {
      rows.forEach((r, i) => {
        for (let h = 0; h < s.kvHeads; h++) {
          const a = (r * s.kvHeads + h) * from.capacity * D;
          dst.set(src.subarray(a, a + n), (i * s.kvHeads + h) * to.capacity * D);
        }
      });
    }
  }
}

function configShape(c: LlamaConfig): DecoderShape {
  return {
    layers: c.numHiddenLayers,
    heads: c.numAttentionHeads,
    kvHeads: c.numKeyValueHeads,
    headDim: c.headDim,
    vocabSize: c.vocabSize,
    maxPositions: c.maxPositionEmbeddings,
  };
}

function onnxFileShape(
  session: ort.InferenceSession,
  config: LlamaConfig | undefined,
): DecoderShape {
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const missing = (what: string): never => {
    throw new ModelError('corrupt', `not an Optimum-style decoder: no ${what}`);
  };
  if (!inputs.has('input_ids')) missing('input_ids input');
  if (!outputs.has('logits')) missing('logits output');
  let layers = 0;
  while (inputs.has(pastKeyName(layers))) layers++;
  if (layers === 0) missing(`${pastKeyName(0)} input (export with use_cache)`);
  for (let i = 0; i < layers; i++) {
    if (!inputs.has(pastValueName(i))) missing(`${pastValueName(i)} input`);
    if (!outputs.has(presentKeyName(i)) || !outputs.has(presentValueName(i))) {
      missing(`present.${i}.* outputs`);
    }
  }
  const kv = inputs.get(pastKeyName(0))!;
  if (!kv.isTensor || kv.type !== 'float32') {
    throw new ModelError(
      'unsupported',
      `${pastKeyName(0)} must be float32 (found ${kv.isTensor ? kv.type : 'non-tensor'})`,
    );
  }
  const [, kvHeads, , headDim] = kv.shape;
  if ((typeof kvHeads !== 'number' || typeof headDim !== 'number') && !config) {
    throw new ModelError('corrupt', 'the KV inputs have symbolic head dims; pass the config');
  }
  const logits = outputs.get('logits')!;
  const vocabDim = logits.isTensor ? logits.shape[2] : undefined;
  const vocabSize = typeof vocabDim === 'number' ? vocabDim : config?.vocabSize;
  if (vocabSize === undefined) {
    throw new ModelError('corrupt', 'the logits vocabulary dim is symbolic; pass the config');
  }
  if (config && config.vocabSize !== vocabSize) {
    throw new ModelError(
      'corrupt',
      `config vocab_size ${config.vocabSize} differs from the file's logits (${vocabSize})`,
    );
  }
  const kvHeadCount = typeof kvHeads === 'number' ? kvHeads : config!.numKeyValueHeads;
  return {
    layers,
    heads: config?.numAttentionHeads ?? kvHeadCount,
    kvHeads: kvHeadCount,
    headDim: typeof headDim === 'number' ? headDim : config!.headDim,
    vocabSize,
    maxPositions: config?.maxPositionEmbeddings ?? Number.MAX_SAFE_INTEGER,
  };
}
