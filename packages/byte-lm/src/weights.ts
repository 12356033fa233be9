/**
 * Llama weights in memory: float32 tensors under their Hugging Face names, in HF layout
 * (`nn.Linear` weights are [out_features, in_features]). This module is the one place that knows
 * which tensors a config implies and their shapes; it converts to and from the safetensors storage
 * dtypes (F32, F16, BF16) and makes seeded random weights for tests and benchmarks.
 */

import type { LlamaConfig, TorchDtype } from './config.js';
import { ModelError } from './model-error.js';
import type { RawTensor, SafetensorsDtype, SafetensorsFile } from './safetensors.js';

export interface FloatTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Tensor name (HF) → tensor. */
export type LlamaWeights = ReadonlyMap<string, FloatTensor>;

/** A config with its weights: everything the graph builder and the reference forward need. */
export interface LlamaModel {
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
}

/** HF tensor names of one decoder layer. */
export function layerTensorNames(i: number): {
  q: string;
  k: string;
  v: string;
  o: string;
  gate: string;
  up: string;
  down: string;
  inputNorm: string;
  postAttentionNorm: string;
} {
  const p = `model.layers.${i}`;
  return {
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
    inputNorm: `${p}.input_layernorm.weight`,
    postAttentionNorm: `${p}.post_attention_layernorm.weight`,
  };
}

export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

/** Every tensor a config implies, with its HF shape, in checkpoint order. */
export function expectedWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const h = c.hiddenSize;
  const qDim = c.numAttentionHeads * c.headDim;
  const kvDim = c.numKeyValueHeads * c.headDim;
  const m = new Map<string, number[]>();
  m.set(EMBED_TOKENS, [c.vocabSize, h]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const n = layerTensorNames(i);
    m.set(n.inputNorm, [h]);
    m.set(n.q, [qDim, h]);
    m.set(n.k, [kvDim, h]);
    m.set(n.v, [kvDim, h]);
    m.set(n.o, [h, qDim]);
    m.set(n.postAttentionNorm, [h]);
    m.set(n.gate, [c.intermediateSize, h]);
    m.set(n.up, [c.intermediateSize, h]);
    m.set(n.down, [h, c.intermediateSize]);
  }
  m.set(FINAL_NORM, [h]);
  if (!c.tieWordEmbeddings) m.set(LM_HEAD, [c.vocabSize, h]);
  return m;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Check that `weights` holds exactly the tensors the config implies, with the right shapes.
 * A tied checkpoint that still carries lm_head.weight (HF sometimes saves it) is accepted only if
 * it equals the embedding; otherwise the mismatch is reported.
 */
export function validateWeights(c: LlamaConfig, weights: LlamaWeights): void {
  const expected = expectedWeightShapes(c);
  for (const [name, shape] of expected) {
    const t = weights.get(name);
    if (!t) throw new ModelError('corrupt', `weights lack tensor ${name} (shape [${shape}])`);
    if (!sameShape(t.shape, shape)) {
      throw new ModelError(
        'corrupt',
        `tensor ${name} has shape [${t.shape}] but the config implies [${shape}]`,
      );
    }
    if (t.data.length !== shape.reduce((a, b) => a * b, 1)) {
      throw new ModelError(
        'corrupt',
        `tensor ${name} holds ${t.data.length} values for shape [${shape}]`,
      );
    }
  }
  for (const name of weights.keys()) {
    if (expected.has(name)) continue;
    if (name === LM_HEAD && c.tieWordEmbeddings) {
      const head = weights.get(LM_HEAD)!.data;
      const emb = weights.get(EMBED_TOKENS)!.data;
      if (head.length === emb.length && head.every((v, i) => v === emb[i])) continue;
      throw new ModelError(
        'corrupt',
        `tie_word_embeddings is true but tensor ${LM_HEAD} differs from ${EMBED_TOKENS}`,
      );
    }
    throw new ModelError('corrupt', `unexpected tensor ${name} for this config`);
  }
}

// ---------------------------------------------------------------------------------------------
// Float conversions. IEEE 754 binary16 and bfloat16 (the top half of a binary32), both rounded to
// nearest, ties to even, as torch's `.to(torch.float16)` / `.to(torch.bfloat16)` do.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-1 mantissa right, rounding to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++; // may carry into the exponent: correct
  return sign | h;
}

export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff; // quiet NaN
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bfloat16BitsToFloat32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

const TORCH_TO_SAFETENSORS: Readonly<Record<TorchDtype, SafetensorsDtype>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
};

export function safetensorsDtypeOf(dtype: TorchDtype): SafetensorsDtype {
  return TORCH_TO_SAFETENSORS[dtype];
}

/** Decode a stored tensor to float32. */
export function rawToFloat32(t: RawTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const b = t.bytes;
  switch (t.dtype) {
    case 'F32': {
      // Copy: the view may be unaligned, and callers own their weights.
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(b);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = float16BitsToFloat32(b[2 * i] | (b[2 * i + 1] << 8));
      return out;
    }
    case 'BF16': {
      const words = new Uint32Array(n);
      for (let i = 0; i < n; i++) words[i] = (b[2 * i] | (b[2 * i + 1] << 8)) << 16;
      return new Float32Array(words.buffer);
    }
  }
}

/** Encode float32 values in a storage dtype. */
export function float32ToRaw(
  shape: readonly number[],
  data: Float32Array,
  dtype: SafetensorsDtype,
): RawTensor {
  switch (dtype) {
    case 'F32':
      return {
        dtype,
        shape,
        bytes: new Uint8Array(
          data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
        ),
      };
    case 'F16': {
      const h = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) h[i] = float32ToFloat16Bits(data[i]);
      return { dtype, shape, bytes: new Uint8Array(h.buffer) };
    }
    case 'BF16': {
      const h = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) h[i] = float32ToBfloat16Bits(data[i]);
      return { dtype, shape, bytes: new Uint8Array(h.buffer) };
    }
  }
}

/** Round every weight through a storage dtype (what saving and reloading in that dtype does). */
export function roundWeights(weights: LlamaWeights, dtype: TorchDtype): Map<string, FloatTensor> {
  const sd = safetensorsDtypeOf(dtype);
  const out = new Map<string, FloatTensor>();
  for (const [name, t] of weights) {
    out.set(name, { shape: t.shape, data: rawToFloat32(float32ToRaw(t.shape, t.data, sd)) });
  }
  return out;
}

/** Weights from a parsed safetensors file, checked against the config. */
export function weightsFromSafetensors(
  c: LlamaConfig,
  file: SafetensorsFile,
): Map<string, FloatTensor> {
  const out = new Map<string, FloatTensor>();
  for (const [name, raw] of file.tensors) {
    out.set(name, { shape: [...raw.shape], data: rawToFloat32(raw) });
  }
  // HF may save a tied head anyway; drop it once it is known to equal the embedding.
  validateWeights(c, out);
  if (c.tieWordEmbeddings) out.delete(LM_HEAD);
  return out;
}

/** Stored tensors in checkpoint order, in `dtype`. */
export function weightsToRaw(
  c: LlamaConfig,
  weights: LlamaWeights,
  dtype: TorchDtype = c.torchDtype,
): [string, RawTensor][] {
  validateWeights(c, weights);
  const sd = safetensorsDtypeOf(dtype);
  return [...expectedWeightShapes(c).keys()].map((name) => {
    const t = weights.get(name)!;
    return [name, float32ToRaw(t.shape, t.data, sd)];
  });
}

// ---------------------------------------------------------------------------------------------
// Seeded random weights.

/** SplitMix32-seeded xorshift128+ style uniform generator; only for weight initialisation. */
class InitRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      // SplitMix32: Weyl step then MurmurHash3 fmix32.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  /** xoshiro128+ output in [0, 1) with 24 bits of precision, never 0 (safe for log). */
  uniform(): number {
    const r = (this.a + this.d) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return ((r >>> 8) + 0.5) / 16777216;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
}

export interface RandomWeightsOptions {
  /** Standard deviation of embedding and projection weights (HF initializer_range: 0.02). */
  readonly std?: number;
  /**
   * Standard deviation of the RMSNorm gains around 1 (HF initialises them to exactly 1; tests use
   * a spread so that a norm weight applied wrongly changes the logits).
   */
  readonly normStd?: number;
}

/** Refuse configs whose weights would not fit a typed array, before allocating anything. */
const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Seeded random weights for a config: the same seed gives the same weights on every machine. */
export function createRandomWeights(
  c: LlamaConfig,
  seed: number,
  options: RandomWeightsOptions = {},
): Map<string, FloatTensor> {
  const std = options.std ?? 0.02;
  const normStd = options.normStd ?? 0;
  const shapes = expectedWeightShapes(c);
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > MAX_TENSOR_ELEMENTS) {
      throw new ModelError('too-large', `tensor ${name} would hold ${n} values; too large`);
    }
  }
  const rng = new InitRandom(seed);
  const out = new Map<string, FloatTensor>();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (shape.length === 1) {
      for (let i = 0; i < n; i++) data[i] = 1 + normStd * rng.normal();
    } else {
      for (let i = 0; i < n; i++) data[i] = std * rng.normal();
    }
    out.set(name, { shape, data });
  }
  return out;
}
