/**
 * OnnxCausalLM: the CausalLM interface on ONNX Runtime (onnxruntime-node, CPU).
 *
 * Two graph flavours from llama-graph.ts:
 *
 * - `fused` (default when head_dim is a multiple of 16): GroupQueryAttention updates a
 *   preallocated per-layer KV buffer in place. The same Float32Array is fed as
 *   past_key_values.{i}.* and bound as the preallocated present.{i}.* output, so ORT sees one
 *   buffer (GroupQueryAttention's "past_present_share_buffer") and a decoding step copies only
 *   the new token's K/V. Each row's valid tokens are packed from slot 0; masked (padding) tokens
 *   are dropped before they reach the graph, so ragged batches cost nothing extra.
 * - `standard`: the plain-op graph with Optimum / transformers.js I/O. Also used for ONNX files
 *   exported by Optimum (see `fromOnnxFile`), identified only by their input/output names.
 */

import os from 'node:os';
import { promises as fs } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { CausalLM, ForwardInput, ForwardOutput, KvCache } from './causal-lm.js';
import type { LlamaConfig } from './config.js';
import {
  buildLlamaOnnx,
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
  /** Graph flavour; default 'fused' when the config allows it (head_dim % 16 == 0). */
  readonly flavour?: 'standard' | 'fused';
  /** Fused flavour: projection weights as float32 (default), int8 or int4 (MatMulNBits). */
  readonly weightFormat?: WeightFormat;
  /** ORT intra-op threads; default: the number of CPUs available to this process. */
  readonly intraOpNumThreads?: number;
}

/** Layout facts the runtime needs, from a config or from an ONNX file's I/O metadata. */
interface DecoderShape {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
}

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

/** Cache of the standard flavour: ORT tensors [batch, kvHeads, length, headDim] per layer. */
class StandardKvCache implements KvCache {
  constructor(
    readonly owner: OnnxCausalLM,
    readonly batch: number,
    readonly length: number,
    readonly keys: readonly ort.Tensor[],
    readonly values: readonly ort.Tensor[],
  ) {}
}

/**
 * Cache of the fused flavour: per layer a [batch, kvHeads, capacity, headDim] buffer in which row
 * b holds its `rowLength[b]` valid tokens from slot 0. `mask` remembers the caller's attention
 * mask over the `length` logical positions (undefined = all ones), to check later calls agree.
 */
class FusedKvCache implements KvCache {
  constructor(
    readonly owner: OnnxCausalLM,
    readonly batch: number,
    readonly length: number,
    readonly capacity: number,
    readonly keys: readonly Float32Array[],
    readonly values: readonly Float32Array[],
    readonly rowLength: Int32Array,
    readonly mask: Uint8Array | undefined,
  ) {}
}

export class OnnxCausalLM implements CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly flavour: 'standard' | 'fused';
  private readonly shape: DecoderShape;
  private readonly session: ort.InferenceSession;
  private readonly inputNames: ReadonlySet<string>;
  private disposed = false;

  private constructor(
    session: ort.InferenceSession,
    flavour: 'standard' | 'fused',
    shape: DecoderShape,
  ) {
    this.session = session;
    this.flavour = flavour;
    this.shape = shape;
    this.vocabSize = shape.vocabSize;
    this.maxPositions = shape.maxPositions;
    this.inputNames = new Set(session.inputNames);
  }

  /** Build the graph for a model and open an ORT session on it. */
  static async create(model: LlamaModel, options: OnnxRuntimeOptions = {}): Promise<OnnxCausalLM> {
    const c = model.config;
    const flavour = options.flavour ?? (c.headDim % 16 === 0 ? 'fused' : 'standard');
    const weightFormat = options.weightFormat ?? 'float32';
    if (weightFormat !== 'float32' && flavour !== 'fused') {
      throw new ModelError('invalid-argument', `${weightFormat} weights need the fused flavour`);
    }
    const bytes = buildLlamaOnnx(c, model.weights, { flavour, weightFormat });
    const session = await ort.InferenceSession.create(
      bytes,
      sessionOptions(options.intraOpNumThreads),
    );
    return new OnnxCausalLM(session, flavour, configShape(c));
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
    options: { config?: LlamaConfig; intraOpNumThreads?: number } = {},
  ): Promise<OnnxCausalLM> {
    let bytes: Uint8Array;
    if (typeof file === 'string') {
      const st = await fs.stat(file).catch(() => undefined);
      if (!st || !st.isFile()) throw new ModelError('io', `${file}: no such ONNX file`);
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
    return new OnnxCausalLM(session, 'standard', onnxFileShape(session, options.config));
  }

  newCache(batch: number): KvCache {
    this.assertOpen();
    if (!Number.isInteger(batch) || batch < 1) {
      throw new ModelError('invalid-argument', `batch must be a positive integer, got ${batch}`);
    }
    const { layers, kvHeads, headDim } = this.shape;
    if (this.flavour === 'standard') {
      const empty = (): ort.Tensor =>
        new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim]);
      return new StandardKvCache(
        this,
        batch,
        0,
        Array.from({ length: layers }, empty),
        Array.from({ length: layers }, empty),
      );
    }
    return this.allocateFused(
      batch,
      0,
      Math.min(64, this.maxPositions),
      new Int32Array(batch),
      undefined,
    );
  }

  private allocateFused(
    batch: number,
    length: number,
    capacity: number,
    rowLength: Int32Array,
    mask: Uint8Array | undefined,
  ): FusedKvCache {
    const { layers, kvHeads, headDim } = this.shape;
    const n = batch * kvHeads * capacity * headDim;
    return new FusedKvCache(
      this,
      batch,
      length,
      capacity,
      Array.from({ length: layers }, () => new Float32Array(n)),
      Array.from({ length: layers }, () => new Float32Array(n)),
      rowLength,
      mask,
    );
  }

  async forward(
    cache: KvCache,
    input: ForwardInput,
    options: { allPositions?: boolean } = {},
  ): Promise<ForwardOutput> {
    this.assertOpen();
    if (cache instanceof StandardKvCache && cache.owner === this) {
      return this.forwardStandard(cache, input, options.allPositions ?? false);
    }
    if (cache instanceof FusedKvCache && cache.owner === this) {
      return this.forwardFused(cache, input, options.allPositions ?? false);
    }
    throw new ModelError('invalid-argument', 'cache was not made by this model');
  }

  private checkInput(batch: number, past: number, input: ForwardInput): void {
    checkForwardInput(
      { vocabSize: this.vocabSize, maxPositionEmbeddings: this.maxPositions },
      batch,
      past,
      input,
    );
  }

  private async forwardStandard(
    cache: StandardKvCache,
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
      if (input.attentionMask)
        for (let i = 0; i < mask.length; i++) mask[i] = input.attentionMask[i] ? 1n : 0n;
      else mask.fill(1n);
      feeds.attention_mask = new ort.Tensor('int64', mask, [B, T]);
    }
    if (this.inputNames.has('position_ids')) {
      const pos = new BigInt64Array(B * S);
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < S; s++) {
          pos[b * S + s] = BigInt(input.positionIds ? input.positionIds[b * S + s] : P + s);
        }
      }
      feeds.position_ids = new ort.Tensor('int64', pos, [B, S]);
    }
    if (this.inputNames.has('use_cache_branch')) {
      feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([P > 0 ? 1 : 0]), [1]);
    }
    for (let i = 0; i < this.shape.layers; i++) {
      feeds[pastKeyName(i)] = cache.keys[i];
      feeds[pastValueName(i)] = cache.values[i];
    }
    const out = await this.session.run(feeds);
    const logitsTensor = out.logits;
    const raw = logitsTensor.data as Float32Array;
    const keys: ort.Tensor[] = [];
    const values: ort.Tensor[] = [];
    for (let i = 0; i < this.shape.layers; i++) {
      keys.push(out[presentKeyName(i)] as ort.Tensor);
      values.push(out[presentValueName(i)] as ort.Tensor);
    }
    const V = this.vocabSize;
    const rows = logitsTensor.dims[1];
    const logits = allPositions ? raw : lastPositionLogits(raw, B, rows, V);
    return { logits, cache: new StandardKvCache(this, B, T, keys, values) };
  }

  private async forwardFused(
    cache: FusedKvCache,
    input: ForwardInput,
    allPositions: boolean,
  ): Promise<ForwardOutput> {
    const B = cache.batch;
    const S = input.seqLen;
    const P = cache.length;
    const T = P + S;
    this.checkInput(B, P, input);
    const mask = input.attentionMask;
    // The cache holds only the tokens that were unmasked; a mask that now differs over past
    // positions would need tokens that were never computed.
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < P; t++) {
        const was = cache.mask ? cache.mask[b * P + t] !== 0 : true;
        const now = mask ? mask[b * T + t] !== 0 : true;
        if (was !== now) {
          throw new ModelError(
            'invalid-argument',
            `attentionMask row ${b} changes past position ${t} (${was ? 1 : 0} -> ${now ? 1 : 0}); pass the same mask over past positions on every step`,
          );
        }
      }
    }
    // Pack each row's unmasked new tokens from column 0.
    const newCount = new Int32Array(B);
    let width = 0;
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let s = 0; s < S; s++) if (!mask || mask[b * T + P + s] !== 0) n++;
      newCount[b] = n;
      width = Math.max(width, n);
    }
    let nextMask: Uint8Array | undefined;
    if (mask || cache.mask) {
      nextMask = new Uint8Array(B * T);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) nextMask[b * T + t] = mask ? (mask[b * T + t] ? 1 : 0) : 1;
      }
    }
    const V = this.vocabSize;
    const logits = new Float32Array(B * (allPositions ? S : 1) * V);
    if (width === 0) {
      return {
        logits,
        cache: new FusedKvCache(
          this,
          B,
          T,
          cache.capacity,
          cache.keys,
          cache.values,
          cache.rowLength,
          nextMask,
        ),
      };
    }
    const ids = new Int32Array(B * width);
    const pos = new Int32Array(B * width);
    const column = new Int32Array(B * S).fill(-1); // packed column of each (b, s), -1 if masked
    for (let b = 0; b < B; b++) {
      let j = 0;
      for (let s = 0; s < S; s++) {
        if (mask && mask[b * T + P + s] === 0) continue;
        ids[b * width + j] = input.inputIds[b * S + s];
        pos[b * width + j] = input.positionIds ? input.positionIds[b * S + s] : P + s;
        column[b * S + s] = j++;
      }
    }
    // Every row writes `width` slots from its current length (masked columns hold dummies past
    // the row's valid tokens, overwritten later).
    let needed = 0;
    for (let b = 0; b < B; b++) needed = Math.max(needed, cache.rowLength[b] + width);
    const work = needed > cache.capacity ? this.grow(cache, needed) : cache;
    const firstPrompt = cache.rowLength.every((n) => n === 0);
    const packedLogits = new Float32Array(B * width * V);
    if (firstPrompt || width === 1 || B === 1) {
      await this.runFused(work, ids, pos, width, work.rowLength, packedLogits);
    } else {
      // GroupQueryAttention takes several new tokens per row only for batch 1 or a first prompt;
      // feed a ragged continuation one column at a time. A row whose tokens ran out writes a
      // dummy at its final length, which its next real token overwrites.
      const colIds = new Int32Array(B);
      const colPos = new Int32Array(B);
      const start = new Int32Array(B);
      const colLogits = new Float32Array(B * V);
      for (let j = 0; j < width; j++) {
        for (let b = 0; b < B; b++) {
          colIds[b] = ids[b * width + j];
          colPos[b] = pos[b * width + j];
          start[b] = work.rowLength[b] + Math.min(j, newCount[b]);
        }
        await this.runFused(work, colIds, colPos, 1, start, colLogits);
        for (let b = 0; b < B; b++) {
          packedLogits.set(colLogits.subarray(b * V, (b + 1) * V), (b * width + j) * V);
        }
      }
    }
    const rowLength = Int32Array.from(work.rowLength, (n, b) => n + newCount[b]);
    // Unpack: logits of masked positions stay zero (unspecified by the interface).
    if (allPositions) {
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < S; s++) {
          const j = column[b * S + s];
          if (j >= 0)
            logits.set(
              packedLogits.subarray((b * width + j) * V, (b * width + j + 1) * V),
              (b * S + s) * V,
            );
        }
      }
    } else {
      for (let b = 0; b < B; b++) {
        const j = column[b * S + S - 1];
        if (j >= 0)
          logits.set(packedLogits.subarray((b * width + j) * V, (b * width + j + 1) * V), b * V);
      }
    }
    return {
      logits,
      cache: new FusedKvCache(
        this,
        B,
        T,
        work.capacity,
        work.keys,
        work.values,
        rowLength,
        nextMask,
      ),
    };
  }

  /**
   * One run of the fused graph: row b's `width` tokens go to slots start[b] .. start[b]+width-1
   * of the shared KV buffers, and attend to slots 0 .. start[b]+width-1 causally.
   */
  private async runFused(
    cache: FusedKvCache,
    ids: Int32Array,
    pos: Int32Array,
    width: number,
    start: Int32Array,
    logitsOut: Float32Array,
  ): Promise<void> {
    const B = cache.batch;
    const { layers, kvHeads, headDim } = this.shape;
    // GroupQueryAttention: seqlens_k = total length - 1 per row; total_sequence_length = the
    // longest row (equal to width on a first prompt, which is how GQA recognises one).
    const seqlens = new Int32Array(B);
    let total = 0;
    for (let b = 0; b < B; b++) {
      seqlens[b] = start[b] + width - 1;
      total = Math.max(total, start[b] + width);
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', int64(ids), [B, width]),
      position_ids: new ort.Tensor('int64', int64(pos), [B, width]),
      seqlens_k: new ort.Tensor('int32', seqlens, [B]),
      total_sequence_length: new ort.Tensor('int32', new Int32Array([total]), []),
    };
    const fetches: Record<string, ort.Tensor | null> = { logits: null };
    const dims = [B, kvHeads, cache.capacity, headDim];
    for (let i = 0; i < layers; i++) {
      const k = new ort.Tensor('float32', cache.keys[i], dims);
      const v = new ort.Tensor('float32', cache.values[i], dims);
      feeds[pastKeyName(i)] = k;
      feeds[pastValueName(i)] = v;
      fetches[presentKeyName(i)] = k;
      fetches[presentValueName(i)] = v;
    }
    const out = await this.session.run(feeds, fetches as ort.InferenceSession.FetchesType);
    logitsOut.set(out.logits.data as Float32Array);
  }

  /**
   * A copy of the cache with room for at least `needed` slots per row (capacity doubles, so a
   * generation of n tokens copies the cache O(log n) times).
   */
  private grow(cache: FusedKvCache, needed: number): FusedKvCache {
    let cap = Math.max(cache.capacity, 1);
    while (cap < needed) cap *= 2;
    const next = this.allocateFused(cache.batch, cache.length, cap, cache.rowLength, cache.mask);
    copyRows(cache, next, [...Array(cache.batch).keys()], this.shape);
    return next;
  }

  selectRows(cache: KvCache, rows: readonly number[]): KvCache {
    this.assertOpen();
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= cache.batch) {
        throw new ModelError(
          'invalid-argument',
          `row ${r} is not in a cache of ${cache.batch} rows`,
        );
      }
    }
    if (rows.length === 0)
      throw new ModelError('invalid-argument', 'selectRows needs at least one row');
    const { kvHeads, headDim } = this.shape;
    if (cache instanceof StandardKvCache && cache.owner === this) {
      const chunk = kvHeads * cache.length * headDim;
      const pick = (t: ort.Tensor): ort.Tensor => {
        const src = t.data as Float32Array;
        const out = new Float32Array(rows.length * chunk);
        rows.forEach((r, i) => out.set(src.subarray(r * chunk, (r + 1) * chunk), i * chunk));
        return new ort.Tensor('float32', out, [rows.length, kvHeads, cache.length, headDim]);
      };
      return new StandardKvCache(
        this,
        rows.length,
        cache.length,
        cache.keys.map(pick),
        cache.values.map(pick),
      );
    }
    if (cache instanceof FusedKvCache && cache.owner === this) {
      let mask: Uint8Array | undefined;
      if (cache.mask) {
        const L = cache.length;
        mask = new Uint8Array(rows.length * L);
        rows.forEach((r, i) => mask!.set(cache.mask!.subarray(r * L, (r + 1) * L), i * L));
      }
      const next = this.allocateFused(
        rows.length,
        cache.length,
        cache.capacity,
        Int32Array.from(rows, (r) => cache.rowLength[r]),
        mask,
      );
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

/** Copy rows `rows` of `from` into rows 0.. of `to` (each row's valid slots only). */
function copyRows(
  from: FusedKvCache,
  to: FusedKvCache,
  rows: readonly number[],
  s: DecoderShape,
): void {
  const D = s.headDim;
  for (let l = 0; l < s.layers; l++) {
    for (const [src, dst] of [
      [from.keys[l], to.keys[l]],
      [from.values[l], to.values[l]],
    ] as const) {
      rows.forEach((r, i) => {
        const n = from.rowLength[r];
        for (let h = 0; h < s.kvHeads; h++) {
          const a = (r * s.kvHeads + h) * from.capacity * D;
          const z = (i * s.kvHeads + h) * to.capacity * D;
          dst.set(src.subarray(a, a + n * D), z);
        }
      });
    }
  }
}

function configShape(c: LlamaConfig): DecoderShape {
  return {
    layers: c.numHiddenLayers,
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
    if (!outputs.has(presentKeyName(i)) || !outputs.has(presentValueName(i)))
      missing(`present.${i}.* outputs`);
  }
  const kv = inputs.get(pastKeyName(0))!;
  if (!kv.isTensor || kv.type !== 'float32') {
    throw new ModelError(
      'unsupported',
      `${pastKeyName(0)} must be float32 (found ${kv.isTensor ? kv.type : 'non-tensor'})`,
    );
  }
  const [, kvHeads, , headDim] = kv.shape;
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') {
    if (!config)
      throw new ModelError('corrupt', 'the KV inputs have symbolic head dims; pass the config');
  }
  const logits = outputs.get('logits')!;
  const vocabDim = logits.isTensor ? logits.shape[2] : undefined;
  const vocabSize = typeof vocabDim === 'number' ? vocabDim : config?.vocabSize;
  if (vocabSize === undefined)
    throw new ModelError('corrupt', 'the logits vocabulary dim is symbolic; pass the config');
  if (config && config.vocabSize !== vocabSize) {
    throw new ModelError(
      'corrupt',
      `config vocab_size ${config.vocabSize} differs from the file's logits (${vocabSize})`,
    );
  }
  return {
    layers,
    kvHeads: typeof kvHeads === 'number' ? kvHeads : config!.numKeyValueHeads,
    headDim: typeof headDim === 'number' ? headDim : config!.headDim,
    vocabSize,
    maxPositions: config?.maxPositionEmbeddings ?? Number.MAX_SAFE_INTEGER,
  };
}
