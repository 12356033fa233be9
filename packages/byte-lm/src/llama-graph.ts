/**
 * The Llama decoder as an ONNX graph, built in TypeScript from a config and weights. This file is
 * the single definition of the architecture (transformers `modeling_llama.py`, Touvron et al.
 * 2023): inference, export for transformers.js and, later, training all build from it.
 *
 *   x = embed_tokens[input_ids]
 *   for each layer:
 *     x = x + o_proj(attention(rope(q_proj(rmsnorm(x))), rope(k_proj(..)), v_proj(..)))
 *     x = x + down_proj(silu(gate_proj(rmsnorm(x))) * up_proj(rmsnorm(x)))
 *   logits = lm_head(rmsnorm(x))            (lm_head = embed_tokens when tied)
 *
 * By default only standard ONNX opset-17 ops are used, so a reverse-mode differentiation pass can
 * walk the graph (issue 5), with the Optimum / transformers.js decoder I/O. Options select the
 * KV-cache I/O (Optimum, caller-owned buffer, none), weights as graph inputs, and a fused fast
 * path (ORT contrib ops, packed projections, int8/int4 weights) computing the same function.
 */

import type { LlamaConfig } from './config.js';
import { ModelError } from './model-error.js';
import { GraphBuilder } from './onnx/builder.js';
import { MS_DOMAIN, attr, type Dim, type Graph, type Value } from './onnx/ir.js';
import { serializeGraph } from './onnx/serialize.js';
import {
  EMBED_TOKENS,
  FINAL_NORM,
  LM_HEAD,
  expectedWeightShapes,
  layerTensorNames,
  validateWeights,
  type LlamaWeights,
} from './weights.js';

export type WeightFormat = 'float32' | 'int8' | 'int4';

export interface LlamaGraphOptions {
  /**
   * KV cache I/O:
   * - 'optimum' (default): past_key_values.{i}.key|value [B, kv, past, D] in, present.{i}.*
   *   (past + new) out: the Optimum / transformers.js convention.
   * - 'buffer': past_key_values.{i}.* is a caller-owned buffer [B, kv, capacity, D], read
   *   only. Instead of attention_mask the caller passes attention_bias [B, 1, S, capacity + S]
   *   (float32: 0 where query s may see key j of [buffer slots | new tokens], the float32
   *   minimum elsewhere: empty slots, padding, the causal future), and only the new tokens' K/V
   *   come out, packed in one tensor new_key_values [2 x layers x B, kv, S, D] (layer i's keys
   *   at rows 2iB.., its values at (2i+1)B..) for the caller to write into the buffer. Nothing
   *   proportional to the context is copied per step (onnxruntime-node copies every output into
   *   fresh JavaScript memory), and the mask costs no kernels.
   * - 'none': no cache; the full-sequence forward of a training step.
   */
  readonly cache?: 'optimum' | 'buffer' | 'none';
  /** Logits for every position (default) or only the last one. */
  readonly logits?: 'all' | 'last';
  /** Weights stored in the graph (default) or fed as graph inputs named as in the checkpoint. */
  readonly weights?: 'initializers' | 'inputs';
  /** Take an attention_mask input (default true; required with a cache). */
  readonly attentionMask?: boolean;
  /**
   * Fast path (default false): ORT contrib ops (SimplifiedLayerNormalization, RotaryEmbedding,
   * MatMulNBits) and one packed matmul for q/k/v and one for gate/up. Same arithmetic as the
   * standard ops; stored weights only.
   */
  readonly fused?: boolean;
  /** Fused only: projection weights as float32 (default), int8 or int4 (MatMulNBits). */
  readonly weightFormat?: WeightFormat;
  /** int8/int4: quantisation block size along the input dim (default 32). */
  readonly blockSize?: number;
  /**
   * int8/int4: 'int8' (default) also quantises activations and uses integer dot products
   * (MatMulNBits accuracy_level 4); 'float32' computes on dequantised weights (level 1).
   */
  readonly quantizedCompute?: 'int8' | 'float32';
}

export interface LlamaGraph {
  readonly graph: Graph;
  /** Weight inputs (with `weights: 'inputs'`), in checkpoint order; empty otherwise. */
  readonly weightInputs: readonly Value[];
}

/** Symbolic dimension names of the graph inputs (Optimum's). */
export const DIM = {
  batch: 'batch_size',
  seq: 'sequence_length',
  past: 'past_sequence_length',
  total: 'total_sequence_length',
} as const;

/**
 * The most negative float32 (torch.finfo(torch.float32).min): HF's masked-score value (a fully
 * masked row stays finite). Shared by the graph, the runtime's attention bias and the reference.
 */
export const MASKED_SCORE = -3.4028234663852886e38;

export const pastKeyName = (i: number): string => `past_key_values.${i}.key`;
export const pastValueName = (i: number): string => `past_key_values.${i}.value`;
export const presentKeyName = (i: number): string => `present.${i}.key`;
export const presentValueName = (i: number): string => `present.${i}.value`;
/** Buffer cache: the new tokens' K/V of every layer, packed (see LlamaGraphOptions.cache). */
export const NEW_KEY_VALUES = 'new_key_values';
/** Buffer cache: the additive attention bias input (see LlamaGraphOptions.cache). */
export const ATTENTION_BIAS = 'attention_bias';

/**
 * RoPE tables, HF convention (`LlamaRotaryEmbedding`, default rope type):
 * inv_freq[j] = theta^(-2j/d), angle(p, j) = p * inv_freq[j], j < d/2. Returns cos and sin as
 * [maxPositions, d/2] float32, computed in float64 and rounded once, so the ONNX graph and the
 * TypeScript reference use identical values.
 */
export function ropeTables(c: LlamaConfig): { cos: Float32Array; sin: Float32Array } {
  const half = c.headDim / 2;
  const cos = new Float32Array(c.maxPositionEmbeddings * half);
  const sin = new Float32Array(c.maxPositionEmbeddings * half);
  for (let j = 0; j < half; j++) {
    const invFreq = Math.pow(c.ropeTheta, (-2 * j) / c.headDim);
    for (let p = 0; p < c.maxPositionEmbeddings; p++) {
      cos[p * half + j] = Math.cos(p * invFreq);
      sin[p * half + j] = Math.sin(p * invFreq);
    }
  }
  return { cos, sin };
}

/** Build the decoder graph. `weights` may be omitted only with `weights: 'inputs'`. */
export function buildLlamaGraph(
  config: LlamaConfig,
  weights: LlamaWeights | undefined,
  options: LlamaGraphOptions = {},
): LlamaGraph {
  const asInputs = options.weights === 'inputs';
  const fused = options.fused ?? false;
  const cache = options.cache ?? 'optimum';
  const format = options.weightFormat ?? 'float32';
  if (fused && asInputs) {
    throw new ModelError('invalid-argument', 'the fused graph needs stored weights');
  }
  if (format !== 'float32' && !fused) {
    throw new ModelError('invalid-argument', `${format} weights need the fused graph`);
  }
  if (cache !== 'none' && options.attentionMask === false) {
    throw new ModelError('invalid-argument', 'a graph with a KV cache needs an attention mask');
  }
  if (!asInputs) {
    if (!weights) throw new ModelError('invalid-argument', 'weights are required');
    validateWeights(config, weights);
  }
  const g = new GraphBuilder('llama_decoder');
  const shapes = expectedWeightShapes(config);
  const weightInputs: Value[] = [];
  const params = new Map<string, Value>();
  const param = (name: string): Value => {
    let v = params.get(name);
    if (v) return v;
    const shape = shapes.get(name)!;
    if (asInputs) {
      v = g.input(name, 'float32', shape);
      weightInputs.push(v);
    } else {
      v = g.initializer(name, 'float32', shape, weights!.get(name)!.data);
    }
    params.set(name, v);
    return v;
  };
  if (asInputs) for (const name of shapes.keys()) param(name);
  g.setMetadata('jpeglm.config', JSON.stringify(config));
  g.setMetadata('jpeglm.cache', cache);
  buildDecoder(g, config, param, fused ? weights! : undefined, options);
  return { graph: g.build(), weightInputs };
}

/** Build and serialise to ONNX ModelProto bytes. */
export function buildLlamaOnnx(
  config: LlamaConfig,
  weights: LlamaWeights,
  options: LlamaGraphOptions = {},
): Uint8Array {
  return serializeGraph(buildLlamaGraph(config, weights, options).graph);
}

// ---------------------------------------------------------------------------------------------
// The decoder, top to bottom.

function buildDecoder(
  g: GraphBuilder,
  c: LlamaConfig,
  param: (name: string) => Value,
  fusedWeights: LlamaWeights | undefined,
  options: LlamaGraphOptions,
): void {
  const cache = options.cache ?? 'optimum';
  const withMask = options.attentionMask ?? true;
  const D = c.headDim;
  const nh = c.numAttentionHeads;
  const nkv = c.numKeyValueHeads;
  const group = nh / nkv;
  const pastDim = cache === 'buffer' ? 'past_capacity' : DIM.past;
  const total = cache === 'none' ? DIM.seq : DIM.total;

  const inputIds = g.input('input_ids', 'int64', [DIM.batch, DIM.seq]);
  const attentionMask =
    withMask && cache !== 'buffer'
      ? g.input('attention_mask', 'int64', [DIM.batch, total])
      : undefined;
  const positionIds = g.input('position_ids', 'int64', [DIM.batch, DIM.seq]);
  const past: { key: Value; value: Value }[] = [];
  if (cache !== 'none') {
    for (let i = 0; i < c.numHiddenLayers; i++) {
      past.push({
        key: g.input(pastKeyName(i), 'float32', [DIM.batch, nkv, pastDim, D]),
        value: g.input(pastValueName(i), 'float32', [DIM.batch, nkv, pastDim, D]),
      });
    }
  }
  const ops = fusedWeights
    ? fusedOps(g, c, fusedWeights, param, positionIds, options)
    : standardOps(g, c, param, positionIds);

  // Additive attention bias [B or 1, 1, S, T]: 0 where query i may see key j, the float32
  // minimum elsewhere. The buffer cache takes it as an input; otherwise it is built here from
  // attention_mask as HF's `_prepare_4d_causal_attention_mask` does: query i sits at slot
  // P + i (P = past length) and sees key slot j iff j <= P + i and attention_mask[b, j] = 1.
  const bias4d =
    cache === 'buffer'
      ? g.input(ATTENTION_BIAS, 'float32', [
          DIM.batch,
          1,
          DIM.seq,
          'past_capacity + sequence_length',
        ])
      : g.scope('mask', () => {
          const seqLen = g.shapeOf(inputIds, 1, 2);
          const totalLen = attentionMask ? g.shapeOf(attentionMask, 1, 2) : seqLen;
          const scalarOf = (v: Value): Value => g.reshape(v, []);
          const tLen = scalarOf(totalLen);
          const one = g.constant('int64', [], [1]);
          const zero = g.constant('int64', [], [0]);
          const keySlots = g.range(zero, tLen, one, total); // [T]
          const querySlots = g.unsqueeze(
            g.range(g.sub(tLen, scalarOf(seqLen)), tLen, one, DIM.seq),
            [1],
          );
          let allowed = g.lessOrEqual(keySlots, querySlots); // [S, T]
          if (attentionMask) {
            const keep = g.unsqueeze(g.cast(attentionMask, 'bool'), [1, 2]); // [B, 1, 1, T]
            allowed = g.and(allowed, keep); // [B, 1, S, T]
          } else {
            allowed = g.unsqueeze(allowed, [0, 1]); // [1, 1, S, T]
          }
          return g.where(allowed, g.scalar(0), g.scalar(MASKED_SCORE));
        });
  // Tiled `group` times along the query axis to match the grouped query layout below.
  const bias = group > 1 ? g.tile(bias4d, [1, 1, group, 1]) : bias4d;
  // Buffer cache: scores against [P buffer slots | S new keys] are split back at P.
  const splitSizes =
    cache === 'buffer'
      ? g.concat([g.shapeOf(past[0].key, 2, 3), g.shapeOf(inputIds, 1, 2)], 0)
      : undefined;

  const newKeyValues: Value[] = []; // buffer cache: k0, v0, k1, v1, ... [B, nkv, S, D] each
  let x = g.scope('embed_tokens', () => g.gather(param(EMBED_TOKENS), inputIds));
  let delta: Value | undefined; // output of the previous block, not yet added to x
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const n = layerTensorNames(i);
    g.scope(`layers.${i}`, () => {
      // Self-attention block.
      let h: Value;
      [h, x] = ops.addNorm(x, delta, n.inputNorm);
      delta = g.scope('self_attn', () => {
        const { q, k, v } = ops.qkvHeads(h, i); // [B, nh|nkv, S, D], RoPE applied
        if (cache === 'buffer') newKeyValues.push(k, v);
        // Grouped-query attention without copying K/V per query head: the `group` query heads
        // that share a K/V head are stacked along the sequence axis (HF repeat_kv order:
        // query head h uses K/V head floor(h / group)).
        const qg = group > 1 ? g.reshape(q, [0, nkv, -1, D]) : q; // [B, nkv, group*S, D]
        const softmax = (scores: Value): Value => g.softmax(g.add(scores, bias), -1);
        let ctx: Value; // [B, nkv, group*S, D]
        if (cache === 'buffer') {
          // Keys = the caller's buffer then the new tokens; the buffer is only read.
          const scores = g.concat([ops.scores(qg, past[i].key), ops.scores(qg, k)], -1);
          const [pPast, pNew] = g.splitDynamic(softmax(scores), -1, splitSizes!, [
            pastDim,
            DIM.seq,
          ]);
          ctx = g.add(g.matmul(pPast, past[i].value), g.matmul(pNew, v));
        } else {
          let keys = k;
          let values = v;
          if (cache === 'optimum') {
            keys = g.concat([past[i].key, k], 2, presentKeyName(i)); // [B, nkv, T, D]
            values = g.concat([past[i].value, v], 2, presentValueName(i));
            g.output(keys);
            g.output(values);
          }
          ctx = g.matmul(softmax(ops.scores(qg, keys)), values);
        }
        // [B, nkv, group*S, D] -> [B, nh, S, D] -> [B, S, nh, D] -> [B, S, nh*D]
        const merged = g.reshape(g.transpose(g.reshape(ctx, [0, nh, -1, D]), [0, 2, 1, 3]), [
          0,
          0,
          nh * D,
        ]);
        return ops.oProj(merged, i);
      });
      // SwiGLU MLP block (Shazeer 2020).
      [h, x] = ops.addNorm(x, delta, n.postAttentionNorm);
      delta = g.scope('mlp', () => {
        const [gate, up] = ops.gateUp(h, i);
        const silu = g.mul(gate, g.sigmoid(gate));
        return ops.down(g.mul(silu, up), i);
      });
    });
  }
  if (cache === 'buffer') g.output(g.concat(newKeyValues, 0, NEW_KEY_VALUES));
  let [final] = ops.addNorm(x, delta, FINAL_NORM);
  if (options.logits === 'last') final = g.slice(final, [-1], [2 ** 62], [1]);
  const head = param(c.tieWordEmbeddings ? EMBED_TOKENS : LM_HEAD);
  g.output(linear(g, final, head, 'logits'));
}

/** The pieces that differ between the standard and the fused graph. */
interface BlockOps {
  /** x' = x + delta (delta may be absent), then RMSNorm(x') with the named gain: [normed, x']. */
  addNorm(x: Value, delta: Value | undefined, weight: string): [Value, Value];
  /**
   * q, k, v heads [B, heads, S, D] with RoPE applied to q and k; q carries the 1/sqrt(D)
   * scale unless `scores` applies it.
   */
  qkvHeads(h: Value, layer: number): { q: Value; k: Value; v: Value };
  /** Attention scores q k^T (scaled) for q [..., M, D] and keys [..., T, D]. */
  scores(q: Value, keys: Value): Value;
  oProj(x: Value, layer: number): Value;
  gateUp(h: Value, layer: number): [Value, Value];
  down(x: Value, layer: number): Value;
}

// ---------------------------------------------------------------------------------------------
// Standard ops.

/** nn.Linear without bias: y = x W^T, W in HF layout [out, in]. */
function linear(g: GraphBuilder, x: Value, w: Value, name?: string): Value {
  return g.matmul(x, g.transpose(w, [1, 0]), name);
}

function standardOps(
  g: GraphBuilder,
  c: LlamaConfig,
  param: (name: string) => Value,
  positionIds: Value,
): BlockOps {
  const D = c.headDim;
  const nh = c.numAttentionHeads;
  const nkv = c.numKeyValueHeads;
  // Rotary tables gathered at each token's position: [B, S, 1, D/2].
  const tables = ropeTables(c);
  const [cos, sin] = g.scope('rotary', () =>
    (['cos', 'sin'] as const).map((k) => {
      const t = g.initializer(
        `rotary.${k}_cache`,
        'float32',
        [c.maxPositionEmbeddings, D / 2],
        tables[k],
      );
      return g.unsqueeze(g.gather(t, positionIds), [2]);
    }),
  );
  /**
   * HF `apply_rotary_pos_emb` with `rotate_half` (non-interleaved: the two halves of each head
   * are the rotated pairs): out = [x1 cos - x2 sin, x2 cos + x1 sin]. x: [B, S, heads, D].
   */
  const rope = (x: Value): Value =>
    g.scope('rope', () => {
      const [x1, x2] = g.split(x, -1, [D / 2, D / 2]);
      const first = g.sub(g.mul(x1, cos), g.mul(x2, sin));
      const second = g.add(g.mul(x2, cos), g.mul(x1, sin));
      return g.concat([first, second], -1);
    });
  const names = layerTensorNames;
  const scale = g.scalar(1 / Math.sqrt(D));
  /** [B, S, n*D] -> [B, S, n, D] */
  const split = (x: Value, n: number): Value => g.reshape(x, [0, 0, n, D]);
  const toHeads = (x: Value): Value => g.transpose(x, [0, 2, 1, 3]);
  return {
    /** RMSNorm (Zhang & Sennrich 2019; HF LlamaRMSNorm): x / sqrt(mean(x^2) + eps) * weight. */
    addNorm: (x, delta, weight) => {
      const sum = delta ? g.add(x, delta) : x;
      const normed = g.scope('norm', () => {
        const meanSquare = g.reduceMean(g.pow(sum, g.scalar(2)), [-1]);
        const rms = g.sqrt(g.add(meanSquare, g.scalar(c.rmsNormEps)));
        return g.mul(g.div(sum, rms), param(weight));
      });
      return [normed, sum];
    },
    qkvHeads: (h, i) => {
      const n = names(i);
      const q = g.mul(toHeads(rope(split(linear(g, h, param(n.q)), nh))), scale);
      const k = toHeads(rope(split(linear(g, h, param(n.k)), nkv)));
      const v = toHeads(split(linear(g, h, param(n.v)), nkv));
      return { q, k, v };
    },
    scores: (q, keys) => g.matmul(q, g.transpose(keys, [0, 1, 3, 2])),
    oProj: (x, i) => linear(g, x, param(names(i).o)),
    gateUp: (h, i) => [linear(g, h, param(names(i).gate)), linear(g, h, param(names(i).up))],
    down: (x, i) => linear(g, x, param(names(i).down)),
  };
}

// ---------------------------------------------------------------------------------------------
// Fused ops: ORT contrib ops and packed projections.

/** Transposed copy of an HF [out, in] matrix, as [in, out] for MatMul. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < cols; k++) out[k * rows + r] = data[r * cols + k];
  return out;
}

/** Rows of several HF [out, in] matrices stacked into one (packed projections). */
function stackRows(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * MatMulNBits weight encoding (ORT contrib op spec): for each output row n and block b of
 * `blockSize` input values, a float scale and `bits`-bit codes q with w ~ (q - zp) * scale, the
 * default zero point zp = 2^(bits-1); codes packed little-nibble-first for 4 bits.
 * Symmetric absmax scaling: scale = max|w| / (2^(bits-1) - 1).
 */
export function quantizeMatMulNBits(
  w: Float32Array,
  n: number,
  k: number,
  bits: 4 | 8,
  blockSize: number,
): { packed: Uint8Array; scales: Float32Array; blocks: number; blobBytes: number } {
  const blocks = Math.ceil(k / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const packed = new Uint8Array(n * blocks * blobBytes);
  const scales = new Float32Array(n * blocks);
  const zp = 1 << (bits - 1);
  const qmax = zp - 1;
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      let amax = 0;
      for (let j = b * blockSize; j < Math.min(k, (b + 1) * blockSize); j++) {
        amax = Math.max(amax, Math.abs(w[r * k + j]));
      }
      const scale = amax / qmax || 1;
      scales[r * blocks + b] = scale;
      const base = (r * blocks + b) * blobBytes;
      for (let t = 0; t < blockSize; t++) {
        const j = b * blockSize + t;
        const q =
          j < k ? Math.min(2 * zp - 1, Math.max(0, Math.round(w[r * k + j] / scale) + zp)) : zp;
        if (bits === 8) packed[base + t] = q;
        else packed[base + (t >> 1)] |= (t & 1) === 0 ? q : q << 4;
      }
    }
  }
  return { packed, scales, blocks, blobBytes };
}

/** The float32 weights a MatMulNBits encoding stands for: (q - zp) * scale, per block. */
export function dequantizeMatMulNBits(
  w: Float32Array,
  n: number,
  k: number,
  bits: 4 | 8,
  blockSize: number,
): Float32Array {
  const q = quantizeMatMulNBits(w, n, k, bits, blockSize);
  const zp = 1 << (bits - 1);
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) {
      const b = Math.floor(j / blockSize);
      const t = j % blockSize;
      const byte = q.packed[(r * q.blocks + b) * q.blobBytes + (bits === 8 ? t : t >> 1)];
      const code = bits === 8 ? byte : (t & 1) === 0 ? byte & 15 : byte >> 4;
      out[r * k + j] = (code - zp) * q.scales[r * q.blocks + b];
    }
  }
  return out;
}

function fusedOps(
  g: GraphBuilder,
  c: LlamaConfig,
  weights: LlamaWeights,
  param: (name: string) => Value,
  positionIds: Value,
  options: LlamaGraphOptions,
): BlockOps {
  const format = options.weightFormat ?? 'float32';
  const blockSize = options.blockSize ?? 32;
  if (![16, 32, 64, 128, 256].includes(blockSize)) {
    throw new ModelError(
      'invalid-argument',
      `block size ${blockSize} is not a power of two in 16..256`,
    );
  }
  const D = c.headDim;
  const tables = ropeTables(c);
  const cosCache = g.initializer(
    'rotary.cos_cache',
    'float32',
    [c.maxPositionEmbeddings, D / 2],
    tables.cos,
  );
  const sinCache = g.initializer(
    'rotary.sin_cache',
    'float32',
    [c.maxPositionEmbeddings, D / 2],
    tables.sin,
  );

  /** y = x W^T for W the row-stack of `names` (HF [out, in] each). */
  const projection = (x: Value, names: readonly string[], label: string): Value => {
    const parts = names.map((nm) => weights.get(nm)!);
    const n = parts.reduce((a, p) => a + p.shape[0], 0);
    const k = parts[0].shape[1];
    const stacked = stackRows(parts.map((p) => p.data));
    if (format === 'float32') {
      return g.matmul(
        x,
        g.initializer(`${label}.weight_t`, 'float32', [k, n], transposed(stacked, n, k)),
      );
    }
    const bits = format === 'int8' ? 8 : 4;
    const q = quantizeMatMulNBits(stacked, n, k, bits, blockSize);
    const b = g.initializer(`${label}.qweight`, 'uint8', [n, q.blocks, q.blobBytes], q.packed);
    const s = g.initializer(`${label}.scales`, 'float32', [n * q.blocks], q.scales);
    const outShape = x.shape ? [...x.shape.slice(0, -1), n] : undefined;
    return g.op(
      'MatMulNBits',
      [x, b, s],
      {
        K: attr.int(k),
        N: attr.int(n),
        bits: attr.int(bits),
        block_size: attr.int(blockSize),
        accuracy_level: attr.int(options.quantizedCompute === 'float32' ? 1 : 4),
      },
      [{ dtype: 'float32', shape: outShape }],
      MS_DOMAIN,
    )[0];
  };
  const names = layerTensorNames;
  const nh = c.numAttentionHeads;
  const nkv = c.numKeyValueHeads;
  return {
    addNorm: (x, delta, weight) =>
      delta
        ? g.skipSimplifiedLayerNorm(delta, x, param(weight), c.rmsNormEps)
        : [g.simplifiedLayerNorm(x, param(weight), c.rmsNormEps), x],
    qkvHeads: (h, i) => {
      // One matmul for q|k|v, one transpose to heads, one RotaryEmbedding for the q|k heads.
      const n = names(i);
      const qkv = projection(h, [n.q, n.k, n.v], `layers.${i}.self_attn.qkv_proj`);
      const heads = g.transpose(g.reshape(qkv, [0, 0, nh + 2 * nkv, D]), [0, 2, 1, 3]);
      const shape = (count: number): Dim[] | undefined =>
        heads.shape ? [heads.shape[0], count, heads.shape[2], D] : undefined;
      const [qk, vh] = g.op('Split', [heads, g.int64s([nh + nkv, nkv])], { axis: attr.int(1) }, [
        { dtype: 'float32', shape: shape(nh + nkv) },
        { dtype: 'float32', shape: shape(nkv) },
      ]);
      // [B, heads, S, D] input: RotaryEmbedding's "transposed" layout.
      const rotated = g.rotaryEmbedding(qk, positionIds, cosCache, sinCache);
      const [q, k] = g.op('Split', [rotated, g.int64s([nh, nkv])], { axis: attr.int(1) }, [
        { dtype: 'float32', shape: shape(nh) },
        { dtype: 'float32', shape: shape(nkv) },
      ]);
      return { q, k, v: vh };
    },
    scores: (q, keys) => g.fusedMatMul(q, keys, { alpha: 1 / Math.sqrt(D), transB: true }),
    oProj: (x, i) => projection(x, [names(i).o], `layers.${i}.self_attn.o_proj`),
    gateUp: (h, i) => {
      const n = names(i);
      const gu = projection(h, [n.gate, n.up], `layers.${i}.mlp.gate_up_proj`);
      const [gate, up] = g.split(gu, -1, [c.intermediateSize, c.intermediateSize]);
      return [gate, up];
    },
    down: (x, i) => projection(x, [names(i).down], `layers.${i}.mlp.down_proj`),
  };
}
