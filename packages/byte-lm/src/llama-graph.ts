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
 * Two flavours share every weight and every formula:
 *
 * - `standard` (default): only standard ONNX opset-17 ops, so a reverse-mode differentiation pass
 *   can walk it (issue 5), and with the Optimum / transformers.js decoder I/O: input_ids,
 *   attention_mask, position_ids, past_key_values.{i}.key|value -> logits, present.{i}.key|value
 *   (KV [batch, kv_heads, seq, head_dim]). With `cache: 'none'` it is the plain full-sequence
 *   forward a training step needs; with `weights: 'inputs'` every weight is a graph input named
 *   as in the checkpoint.
 * - `fused`: ONNX Runtime contrib ops (SimplifiedLayerNormalization, RotaryEmbedding,
 *   GroupQueryAttention) over a preallocated KV buffer that GroupQueryAttention updates in place
 *   (present.{i}.* is bound to the same memory as past_key_values.{i}.*), so a decoding step
 *   never copies the cache. Rows are right-aligned ... no: rows are packed from slot 0 and
 *   `seqlens_k` gives each row's length; optional int8/int4 weights via MatMulNBits.
 */

import type { LlamaConfig } from './config.js';
import { ModelError } from './model-error.js';
import { GraphBuilder } from './onnx/builder.js';
import { MS_DOMAIN, attr, type Graph, type Value } from './onnx/ir.js';
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
  /** 'standard' (default): plain ONNX ops; 'fused': ORT contrib ops with an in-place KV buffer. */
  readonly flavour?: 'standard' | 'fused';
  /** Standard flavour only: 'optimum' (default) KV-cache I/O, or 'none' (no cache; training). */
  readonly cache?: 'optimum' | 'none';
  /** Standard flavour only: logits for every position (default) or only the last one. */
  readonly logits?: 'all' | 'last';
  /** Standard flavour only: weights stored in the graph (default) or fed as graph inputs. */
  readonly weights?: 'initializers' | 'inputs';
  /** Standard flavour only: take an attention_mask input (default true). */
  readonly attentionMask?: boolean;
  /** Fused flavour only: storage of the projection weights (default float32). */
  readonly weightFormat?: WeightFormat;
  /** Fused flavour, int8/int4: quantisation block size along the input dim (default 32). */
  readonly blockSize?: number;
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

/** The most negative float32 (torch.finfo(torch.float32).min): HF's masked-score value. */
const MASKED_SCORE = -3.4028234663852886e38;

export const pastKeyName = (i: number): string => `past_key_values.${i}.key`;
export const pastValueName = (i: number): string => `past_key_values.${i}.value`;
export const presentKeyName = (i: number): string => `present.${i}.key`;
export const presentValueName = (i: number): string => `present.${i}.value`;

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
  const flavour = options.flavour ?? 'standard';
  const asInputs = options.weights === 'inputs';
  if (flavour === 'fused' && (asInputs || options.cache === 'none' || options.logits === 'last')) {
    throw new ModelError(
      'invalid-argument',
      'the fused graph supports only KV-cache inference with stored weights and all logits',
    );
  }
  if (!asInputs) {
    if (!weights) throw new ModelError('invalid-argument', 'weights are required');
    validateWeights(config, weights);
  }
  if ((options.weightFormat ?? 'float32') !== 'float32' && flavour !== 'fused') {
    throw new ModelError('invalid-argument', 'int8/int4 weights need the fused flavour');
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

  g.setMetadata('jpeglm.flavour', flavour);
  g.setMetadata('jpeglm.config', JSON.stringify(config));
  if (flavour === 'fused') {
    buildFused(g, config, weights!, param, options);
  } else {
    buildStandard(g, config, param, options);
  }
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
// Standard flavour: plain ONNX ops.

/** nn.Linear without bias: y = x W^T, W in HF layout [out, in]. */
function linear(g: GraphBuilder, x: Value, w: Value, name?: string): Value {
  return g.matmul(x, g.transpose(w, [1, 0]), name);
}

/** RMSNorm (Zhang & Sennrich 2019; HF LlamaRMSNorm): x / sqrt(mean(x^2) + eps) * weight. */
function rmsNorm(g: GraphBuilder, x: Value, weight: Value, eps: number): Value {
  return g.scope('norm', () => {
    const meanSquare = g.reduceMean(g.pow(x, g.scalar(2)), [-1]);
    const rms = g.sqrt(g.add(meanSquare, g.scalar(eps)));
    return g.mul(g.div(x, rms), weight);
  });
}

/**
 * Rotary position embedding, HF `apply_rotary_pos_emb` with `rotate_half` (non-interleaved: the
 * two halves of each head are the rotated pairs). x: [B, heads, S, D]; cos/sin: [B, 1, S, D/2].
 *   out = [x1 cos - x2 sin, x2 cos + x1 sin]
 */
function rope(g: GraphBuilder, x: Value, cos: Value, sin: Value, headDim: number): Value {
  return g.scope('rope', () => {
    const [x1, x2] = g.split(x, -1, [headDim / 2, headDim / 2]);
    const first = g.sub(g.mul(x1, cos), g.mul(x2, sin));
    const second = g.add(g.mul(x2, cos), g.mul(x1, sin));
    return g.concat([first, second], -1);
  });
}

function buildStandard(
  g: GraphBuilder,
  c: LlamaConfig,
  param: (name: string) => Value,
  options: LlamaGraphOptions,
): void {
  const withCache = (options.cache ?? 'optimum') === 'optimum';
  const withMask = options.attentionMask ?? true;
  const D = c.headDim;
  const nh = c.numAttentionHeads;
  const nkv = c.numKeyValueHeads;
  const group = nh / nkv;
  const total = withCache ? DIM.total : DIM.seq;

  const inputIds = g.input('input_ids', 'int64', [DIM.batch, DIM.seq]);
  const attentionMask = withMask
    ? g.input('attention_mask', 'int64', [DIM.batch, total])
    : undefined;
  const positionIds = g.input('position_ids', 'int64', [DIM.batch, DIM.seq]);
  const past: { key: Value; value: Value }[] = [];
  if (withCache) {
    for (let i = 0; i < c.numHiddenLayers; i++) {
      past.push({
        key: g.input(pastKeyName(i), 'float32', [DIM.batch, nkv, DIM.past, D]),
        value: g.input(pastValueName(i), 'float32', [DIM.batch, nkv, DIM.past, D]),
      });
    }
  }

  // Rotary tables gathered at each token's position: [B, 1, S, D/2].
  const tables = ropeTables(c);
  const [cos, sin] = g.scope('rotary', () =>
    (['cos', 'sin'] as const).map((k) => {
      const t = g.initializer(
        `rotary.${k}_cache`,
        'float32',
        [c.maxPositionEmbeddings, D / 2],
        tables[k],
      );
      return g.unsqueeze(g.gather(t, positionIds), [1]);
    }),
  );

  // Additive attention bias [B, 1, S, T] (T = past + S): 0 where query i (at slot past + i) may
  // see key slot j -- j <= past + i and attention_mask[b, j] = 1 -- and the float32 minimum
  // elsewhere, as HF's `_prepare_4d_causal_attention_mask` does.
  const bias = g.scope('mask', () => {
    const seqLen = g.shapeOf(inputIds, 1, 2);
    const totalLen = withMask ? g.shapeOf(attentionMask!, 1, 2) : seqLen;
    const scalarOf = (v: Value): Value => g.reshape(v, []);
    const tLen = scalarOf(totalLen);
    const one = g.constant('int64', [], [1]);
    const zero = g.constant('int64', [], [0]);
    const keySlots = g.range(zero, tLen, one, total); // [T]
    const querySlots = g.unsqueeze(g.range(g.sub(tLen, scalarOf(seqLen)), tLen, one, DIM.seq), [1]); // [S, 1]
    let allowed = g.lessOrEqual(keySlots, querySlots); // [S, T]
    if (withMask) {
      const keep = g.unsqueeze(g.cast(attentionMask!, 'bool'), [1, 2]); // [B, 1, 1, T]
      allowed = g.and(allowed, keep); // [B, 1, S, T]
    } else {
      allowed = g.unsqueeze(allowed, [0, 1]); // [1, 1, S, T]
    }
    return g.where(allowed, g.scalar(0), g.scalar(MASKED_SCORE));
  });
  const scale = g.scalar(1 / Math.sqrt(D));

  let x = g.scope('embed_tokens', () => g.gather(param(EMBED_TOKENS), inputIds));
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const n = layerTensorNames(i);
    x = g.scope(`layers.${i}`, () => {
      // Self-attention block.
      const h = rmsNorm(g, x, param(n.inputNorm), c.rmsNormEps);
      const attnOut = g.scope('self_attn', () => {
        const heads = (w: string, count: number): Value =>
          g.transpose(g.reshape(linear(g, h, param(w)), [0, 0, count, D]), [0, 2, 1, 3]);
        const q = g.mul(rope(g, heads(n.q, nh), cos, sin, D), scale); // [B, nh, S, D]
        let k = rope(g, heads(n.k, nkv), cos, sin, D); // [B, nkv, S, D]
        let v = heads(n.v, nkv);
        if (withCache) {
          k = g.concat([past[i].key, k], 2, presentKeyName(i)); // [B, nkv, T, D]
          v = g.concat([past[i].value, v], 2, presentValueName(i));
          g.output(k);
          g.output(v);
        }
        // Grouped-query attention without copying K/V per query head: the `group` query heads
        // that share a K/V head are stacked along the sequence axis (HF repeat_kv order:
        // query head h uses K/V head floor(h / group)).
        const qg = group > 1 ? g.reshape(q, [0, nkv, -1, D]) : q; // [B, nkv, group*S, D]
        let scores = g.matmul(qg, g.transpose(k, [0, 1, 3, 2])); // [B, nkv, group*S, T]
        if (group > 1) scores = g.reshape(scores, [0, nh, -1, 0]); // [B, nh, S, T]
        const probs = g.softmax(g.add(scores, bias), -1);
        const probsFlat = group > 1 ? g.reshape(probs, [0, nkv, -1, 0]) : probs;
        const ctx = g.matmul(probsFlat, v); // [B, nkv, group*S, D]
        const merged = g.reshape(g.transpose(g.reshape(ctx, [0, nh, -1, D]), [0, 2, 1, 3]), [
          0,
          0,
          nh * D,
        ]);
        return linear(g, merged, param(n.o));
      });
      const afterAttn = g.add(x, attnOut);
      // SwiGLU MLP block (Shazeer 2020).
      const h2 = rmsNorm(g, afterAttn, param(n.postAttentionNorm), c.rmsNormEps);
      const mlpOut = g.scope('mlp', () => {
        const gate = linear(g, h2, param(n.gate));
        const up = linear(g, h2, param(n.up));
        const silu = g.mul(gate, g.sigmoid(gate));
        return linear(g, g.mul(silu, up), param(n.down));
      });
      return g.add(afterAttn, mlpOut);
    });
  }
  let final = rmsNorm(g, x, param(FINAL_NORM), c.rmsNormEps);
  if (options.logits === 'last') final = g.slice(final, [-1], [2 ** 31 - 1], [1]);
  const head = param(c.tieWordEmbeddings ? EMBED_TOKENS : LM_HEAD);
  g.output(linear(g, final, head, 'logits'));
}

// ---------------------------------------------------------------------------------------------
// Fused flavour: ORT contrib ops, in-place KV buffer.

/** Transposed copy of an HF [out, in] matrix, as [in, out] for MatMul. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < cols; k++) out[k * rows + r] = data[r * cols + k];
  return out;
}

/** Rows of several HF [out, in] matrices stacked into one (fused projections). */
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

function buildFused(
  g: GraphBuilder,
  c: LlamaConfig,
  weights: LlamaWeights,
  param: (name: string) => Value,
  options: LlamaGraphOptions,
): void {
  const format = options.weightFormat ?? 'float32';
  const blockSize = options.blockSize ?? 32;
  if (![16, 32, 64, 128, 256].includes(blockSize)) {
    throw new ModelError(
      'invalid-argument',
      `block size ${blockSize} is not a power of two in 16..256`,
    );
  }
  const D = c.headDim;
  const nh = c.numAttentionHeads;
  const nkv = c.numKeyValueHeads;
  if (D % 16 !== 0) {
    // GroupQueryAttention requires head_size % 8 == 0; RotaryEmbedding's caches % 8 likewise.
    throw new ModelError('unsupported', `the fused graph needs head_dim divisible by 16, got ${D}`);
  }
  const inputIds = g.input('input_ids', 'int64', [DIM.batch, DIM.seq]);
  const positionIds = g.input('position_ids', 'int64', [DIM.batch, DIM.seq]);
  // GroupQueryAttention's own inputs: per-row (valid length - 1) and the total length.
  const seqlensK = g.input('seqlens_k', 'int32', [DIM.batch]);
  const totalSeqLen = g.input('total_sequence_length', 'int32', []);
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
    const outShape = x.shape ? [...x.shape.slice(0, -1), n] : undefined;
    if (format === 'float32') {
      const w = g.initializer(`${label}.weight_t`, 'float32', [k, n], transposed(stacked, n, k));
      return g.matmul(x, w);
    }
    const bits = format === 'int8' ? 8 : 4;
    const q = quantizeMatMulNBits(stacked, n, k, bits, blockSize);
    const b = g.initializer(`${label}.qweight`, 'uint8', [n, q.blocks, q.blobBytes], q.packed);
    const s = g.initializer(`${label}.scales`, 'float32', [n * q.blocks], q.scales);
    return g.op(
      'MatMulNBits',
      [x, b, s],
      {
        K: attr.int(k),
        N: attr.int(n),
        bits: attr.int(bits),
        block_size: attr.int(blockSize),
        // accuracy_level 4: int8 activations x int8/int4 weights (VNNI where the CPU has it).
        accuracy_level: attr.int(4),
      },
      [{ dtype: 'float32', shape: outShape }],
      MS_DOMAIN,
    )[0];
  };

  let x = g.gather(param(EMBED_TOKENS), inputIds);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const n = layerTensorNames(i);
    x = g.scope(`layers.${i}`, () => {
      const h = g.simplifiedLayerNorm(x, param(n.inputNorm), c.rmsNormEps);
      const qkv = projection(h, [n.q, n.k, n.v], `layers.${i}.self_attn.qkv_proj`);
      const [q0, k0, v] = g.split(qkv, -1, [nh * D, nkv * D, nkv * D]);
      const q = g.rotaryEmbedding(q0, positionIds, cosCache, sinCache);
      const k = g.rotaryEmbedding(k0, positionIds, cosCache, sinCache);
      const pastK = g.input(pastKeyName(i), 'float32', [DIM.batch, nkv, DIM.past, D]);
      const pastV = g.input(pastValueName(i), 'float32', [DIM.batch, nkv, DIM.past, D]);
      const [attn, presentK, presentV] = g.op(
        'GroupQueryAttention',
        [q, k, v, pastK, pastV, seqlensK, totalSeqLen],
        { num_heads: attr.int(nh), kv_num_heads: attr.int(nkv) },
        [
          { dtype: 'float32', shape: [DIM.batch, DIM.seq, nh * D] },
          { dtype: 'float32', shape: [DIM.batch, nkv, DIM.past, D], name: presentKeyName(i) },
          { dtype: 'float32', shape: [DIM.batch, nkv, DIM.past, D], name: presentValueName(i) },
        ],
        MS_DOMAIN,
      );
      g.output(presentK);
      g.output(presentV);
      const afterAttn = g.add(x, projection(attn, [n.o], `layers.${i}.self_attn.o_proj`));
      const h2 = g.simplifiedLayerNorm(afterAttn, param(n.postAttentionNorm), c.rmsNormEps);
      const gateUp = projection(h2, [n.gate, n.up], `layers.${i}.mlp.gate_up_proj`);
      const [gate, up] = g.split(gateUp, -1, [c.intermediateSize, c.intermediateSize]);
      const act = g.mul(g.mul(gate, g.sigmoid(gate)), up);
      return g.add(afterAttn, projection(act, [n.down], `layers.${i}.mlp.down_proj`));
    });
  }
  const final = g.simplifiedLayerNorm(x, param(FINAL_NORM), c.rmsNormEps);
  const head = param(c.tieWordEmbeddings ? EMBED_TOKENS : LM_HEAD);
  g.output(g.matmul(final, g.transpose(head, [1, 0]), 'logits'));
}
