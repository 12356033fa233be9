/**
 * A plain TypeScript forward pass of the Llama decoder with float64 arithmetic throughout: the
 * yardstick the ONNX graphs are tested against, and the "no runtime at all" baseline of the
 * inference benchmark. It follows llama-graph.ts formula for formula (same RoPE tables, same
 * additive mask value), so agreement is limited only by float32 rounding inside ONNX Runtime.
 */

import type { CausalLM, ForwardInput, ForwardOutput, KvCache } from './causal-lm.js';
import type { LlamaConfig } from './config.js';
import { MASKED_SCORE, ropeTables } from './llama-graph.js';
import { ModelError } from './model-error.js';
import {
  EMBED_TOKENS,
  FINAL_NORM,
  LM_HEAD,
  layerTensorNames,
  validateWeights,
  type LlamaModel,
} from './weights.js';

/** KV cache of the reference model: per layer, float64 [batch, kvHeads, capacity, headDim]. */
export class ReferenceKvCache implements KvCache {
  constructor(
    readonly batch: number,
    readonly length: number,
    readonly capacity: number,
    readonly keys: readonly Float64Array[],
    readonly values: readonly Float64Array[],
  ) {}
}

interface LayerWeights {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
  inputNorm: Float32Array;
  postNorm: Float32Array;
}

/** y[r] = sum_k W[r, k] x[k] for W [rows, cols] row-major (HF Linear layout). */
function matVec(
  w: Float32Array,
  rows: number,
  cols: number,
  x: Float64Array,
  y: Float64Array,
): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const base = r * cols;
    for (let k = 0; k < cols; k++) s += w[base + k] * x[k];
    y[r] = s;
  }
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number, out: Float64Array): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * inv * w[i];
}

export interface ReferenceForwardResult {
  /** [batch, seqLen, vocab] */
  readonly logits: Float64Array;
  readonly cache: ReferenceKvCache;
}

export class ReferenceModel {
  readonly config: LlamaConfig;
  private readonly embed: Float32Array;
  private readonly head: Float32Array;
  private readonly finalNorm: Float32Array;
  private readonly layers: LayerWeights[];
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;

  constructor(model: LlamaModel) {
    validateWeights(model.config, model.weights);
    const c = model.config;
    const w = (name: string): Float32Array => model.weights.get(name)!.data;
    this.config = c;
    this.embed = w(EMBED_TOKENS);
    this.head = w(c.tieWordEmbeddings ? EMBED_TOKENS : LM_HEAD);
    this.finalNorm = w(FINAL_NORM);
    this.layers = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const n = layerTensorNames(i);
      this.layers.push({
        q: w(n.q),
        k: w(n.k),
        v: w(n.v),
        o: w(n.o),
        gate: w(n.gate),
        up: w(n.up),
        down: w(n.down),
        inputNorm: w(n.inputNorm),
        postNorm: w(n.postAttentionNorm),
      });
    }
    const t = ropeTables(c);
    this.cos = t.cos;
    this.sin = t.sin;
  }

  emptyCache(batch: number): ReferenceKvCache {
    const empty = (): Float64Array => new Float64Array(0);
    return new ReferenceKvCache(batch, 0, 0, this.layers.map(empty), this.layers.map(empty));
  }

  /** Grow (copy) the cache so it holds at least `needed` positions. */
  private reserve(cache: ReferenceKvCache, needed: number): ReferenceKvCache {
    if (needed <= cache.capacity) return cache;
    const c = this.config;
    const cap = Math.max(needed, cache.capacity * 2, 16);
    const rows = cache.batch * c.numKeyValueHeads;
    const D = c.headDim;
    const grow = (old: Float64Array): Float64Array => {
      const out = new Float64Array(rows * cap * D);
      for (let r = 0; r < rows; r++) {
        out.set(
          old.subarray(r * cache.capacity * D, (r * cache.capacity + cache.length) * D),
          r * cap * D,
        );
      }
      return out;
    };
    return new ReferenceKvCache(
      cache.batch,
      cache.length,
      cap,
      cache.keys.map(grow),
      cache.values.map(grow),
    );
  }

  /** Run `seqLen` new tokens per row through the decoder. */
  forward(cacheIn: ReferenceKvCache, input: ForwardInput): ReferenceForwardResult {
    const c = this.config;
    const B = cacheIn.batch;
    const S = input.seqLen;
    const P = cacheIn.length;
    const T = P + S;
    const H = c.hiddenSize;
    const D = c.headDim;
    const half = D / 2;
    const nh = c.numAttentionHeads;
    const nkv = c.numKeyValueHeads;
    const group = nh / nkv;
    const V = c.vocabSize;
    checkForwardInput(c, B, P, input);
    const cache = this.reserve(cacheIn, T);
    const cap = cache.capacity;
    const mask = input.attentionMask;
    const positions = input.positionIds;

    // Residual stream, one row per (b, s).
    const xs: Float64Array[] = [];
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const id = input.inputIds[b * S + s];
        const x = new Float64Array(H);
        for (let k = 0; k < H; k++) x[k] = this.embed[id * H + k];
        xs.push(x);
      }
    }
    const pos = (b: number, s: number): number => (positions ? positions[b * S + s] : P + s);

    const h = new Float64Array(H);
    const q = new Float64Array(nh * D);
    const kBuf = new Float64Array(nkv * D);
    const vBuf = new Float64Array(nkv * D);
    const attnCat = new Float64Array(nh * D);
    const attnOut = new Float64Array(H);
    const gate = new Float64Array(c.intermediateSize);
    const up = new Float64Array(c.intermediateSize);
    const scores = new Float64Array(T);
    const scale = 1 / Math.sqrt(D);
    const rotate = (vec: Float64Array, heads: number, p: number): void => {
      for (let hd = 0; hd < heads; hd++) {
        const o = hd * D;
        for (let j = 0; j < half; j++) {
          const cs = this.cos[p * half + j];
          const sn = this.sin[p * half + j];
          const x1 = vec[o + j];
          const x2 = vec[o + half + j];
          vec[o + j] = x1 * cs - x2 * sn;
          vec[o + half + j] = x2 * cs + x1 * sn;
        }
      }
    };

    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      const keys = cache.keys[l];
      const values = cache.values[l];
      // Project and store K/V of every new token first (queries of a row see the whole row).
      const queries: Float64Array[] = [];
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < S; s++) {
          rmsNorm(xs[b * S + s], L.inputNorm, c.rmsNormEps, h);
          matVec(L.q, nh * D, H, h, q);
          matVec(L.k, nkv * D, H, h, kBuf);
          matVec(L.v, nkv * D, H, h, vBuf);
          const p = pos(b, s);
          rotate(q, nh, p);
          rotate(kBuf, nkv, p);
          queries.push(Float64Array.from(q));
          for (let kh = 0; kh < nkv; kh++) {
            const dst = ((b * nkv + kh) * cap + P + s) * D;
            keys.set(kBuf.subarray(kh * D, (kh + 1) * D), dst);
            values.set(vBuf.subarray(kh * D, (kh + 1) * D), dst);
          }
        }
      }
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < S; s++) {
          const qv = queries[b * S + s];
          for (let hd = 0; hd < nh; hd++) {
            const kh = Math.floor(hd / group);
            const base = (b * nkv + kh) * cap * D;
            let max = -Infinity;
            for (let t = 0; t < T; t++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += qv[hd * D + d] * keys[base + t * D + d];
              const allowed = t <= P + s && (!mask || mask[b * T + t] !== 0);
              scores[t] = dot * scale + (allowed ? 0 : MASKED_SCORE);
              if (scores[t] > max) max = scores[t];
            }
            let sum = 0;
            for (let t = 0; t < T; t++) {
              scores[t] = Math.exp(scores[t] - max);
              sum += scores[t];
            }
            for (let d = 0; d < D; d++) {
              let acc = 0;
              for (let t = 0; t < T; t++) acc += scores[t] * values[base + t * D + d];
              attnCat[hd * D + d] = acc / sum;
            }
          }
          const x = xs[b * S + s];
          matVec(L.o, H, nh * D, attnCat, attnOut);
          for (let k = 0; k < H; k++) x[k] += attnOut[k];
        }
      }
      // MLP of every token.
      for (const x of xs) {
        rmsNorm(x, L.postNorm, c.rmsNormEps, h);
        matVec(L.gate, c.intermediateSize, H, h, gate);
        matVec(L.up, c.intermediateSize, H, h, up);
        for (let k = 0; k < gate.length; k++)
          gate[k] = (gate[k] / (1 + Math.exp(-gate[k]))) * up[k];
        matVec(L.down, H, c.intermediateSize, gate, attnOut);
        for (let k = 0; k < H; k++) x[k] += attnOut[k];
      }
    }

    const logits = new Float64Array(B * S * V);
    const row = new Float64Array(V);
    for (let i = 0; i < xs.length; i++) {
      rmsNorm(xs[i], this.finalNorm, c.rmsNormEps, h);
      matVec(this.head, V, H, h, row);
      logits.set(row, i * V);
    }
    return {
      logits,
      cache: new ReferenceKvCache(B, T, cap, cache.keys, cache.values),
    };
  }

  selectRows(cache: ReferenceKvCache, rows: readonly number[]): ReferenceKvCache {
    const c = this.config;
    const chunk = c.numKeyValueHeads * cache.capacity * c.headDim;
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= cache.batch) {
        throw new ModelError(
          'invalid-argument',
          `row ${r} is not in a cache of ${cache.batch} rows`,
        );
      }
    }
    const pick = (buf: Float64Array): Float64Array => {
      const out = new Float64Array(rows.length * chunk);
      rows.forEach((r, i) => out.set(buf.subarray(r * chunk, (r + 1) * chunk), i * chunk));
      return out;
    };
    return new ReferenceKvCache(
      rows.length,
      cache.length,
      cache.capacity,
      cache.keys.map(pick),
      cache.values.map(pick),
    );
  }
}

/** Validate a forward request against a model's limits (shared with the ONNX runtime). */
export function checkForwardInput(
  c: { readonly vocabSize: number; readonly maxPositionEmbeddings: number },
  batch: number,
  past: number,
  input: ForwardInput,
): void {
  const S = input.seqLen;
  if (!Number.isInteger(S) || S < 1) {
    throw new ModelError('invalid-argument', `seqLen must be a positive integer, got ${S}`);
  }
  if (input.inputIds.length !== batch * S) {
    throw new ModelError(
      'invalid-argument',
      `inputIds holds ${input.inputIds.length} ids, expected batch ${batch} x seqLen ${S}`,
    );
  }
  for (const id of input.inputIds) {
    if (id < 0 || id >= c.vocabSize) {
      throw new ModelError(
        'invalid-argument',
        `token id ${id} is outside the vocabulary (0..${c.vocabSize - 1})`,
      );
    }
  }
  const T = past + S;
  if (T > c.maxPositionEmbeddings && !input.positionIds) {
    throw new ModelError(
      'invalid-argument',
      `sequence of ${T} tokens exceeds max_position_embeddings (${c.maxPositionEmbeddings})`,
    );
  }
  if (input.attentionMask && input.attentionMask.length !== batch * T) {
    throw new ModelError(
      'invalid-argument',
      `attentionMask holds ${input.attentionMask.length} entries, expected batch ${batch} x ${T}`,
    );
  }
  if (input.positionIds) {
    if (input.positionIds.length !== batch * S) {
      throw new ModelError(
        'invalid-argument',
        `positionIds holds ${input.positionIds.length} entries, expected ${batch * S}`,
      );
    }
    for (const p of input.positionIds) {
      if (p < 0 || p >= c.maxPositionEmbeddings) {
        throw new ModelError(
          'invalid-argument',
          `position ${p} is outside 0..${c.maxPositionEmbeddings - 1} (max_position_embeddings)`,
        );
      }
    }
  }
}

/** Take the last position of each row out of [batch, seqLen, vocab] logits. */
export function lastPositionLogits(
  logits: ArrayLike<number>,
  batch: number,
  seqLen: number,
  vocab: number,
): Float32Array {
  const out = new Float32Array(batch * vocab);
  for (let b = 0; b < batch; b++) {
    const src = (b * seqLen + seqLen - 1) * vocab;
    for (let v = 0; v < vocab; v++) out[b * vocab + v] = logits[src + v];
  }
  return out;
}

/** The reference model behind the CausalLM interface (tests, and the benchmark's baseline). */
export class ReferenceCausalLM implements CausalLM {
  readonly model: ReferenceModel;
  readonly vocabSize: number;
  readonly maxPositions: number;

  constructor(model: LlamaModel) {
    this.model = new ReferenceModel(model);
    this.vocabSize = model.config.vocabSize;
    this.maxPositions = model.config.maxPositionEmbeddings;
  }

  newCache(batch: number): KvCache {
    if (!Number.isInteger(batch) || batch < 1) {
      throw new ModelError('invalid-argument', `batch must be a positive integer, got ${batch}`);
    }
    return this.model.emptyCache(batch);
  }

  async forward(
    cache: KvCache,
    input: ForwardInput,
    options: { allPositions?: boolean } = {},
  ): Promise<ForwardOutput> {
    if (!(cache instanceof ReferenceKvCache)) {
      throw new ModelError('invalid-argument', 'cache was not made by this model');
    }
    const r = this.model.forward(cache, input);
    const logits = options.allPositions
      ? Float32Array.from(r.logits)
      : lastPositionLogits(r.logits, cache.batch, input.seqLen, this.vocabSize);
    return { logits, cache: r.cache };
  }

  selectRows(cache: KvCache, rows: readonly number[]): KvCache {
    if (!(cache instanceof ReferenceKvCache)) {
      throw new ModelError('invalid-argument', 'cache was not made by this model');
    }
    return this.model.selectRows(cache, rows);
  }

  async dispose(): Promise<void> {}
}
