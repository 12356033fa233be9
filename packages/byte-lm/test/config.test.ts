/** config.json (HF LlamaConfig) parsing, defaults, validation, and weight shapes it implies. */
import { describe, expect, it } from 'vitest';
import {
  ModelError,
  createRandomModel,
  expectedWeightShapes,
  llamaConfig,
  llamaConfigToJson,
  parameterCount,
  parseLlamaConfig,
  validateWeights,
} from '../src/index.js';
import { CodecError } from '@jpeglm/codec-tokenizer';

/** Field for field what transformers writes for a small Llama (TinyLlama-1.1B's config.json). */
const TINYLLAMA = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.35.0',
  use_cache: true,
  vocab_size: 32000,
};

const SMALL = {
  vocabSize: 50,
  hiddenSize: 32,
  intermediateSize: 40,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
};

describe('parseLlamaConfig', () => {
  it('reads a transformers-written Llama config', () => {
    const c = parseLlamaConfig(TINYLLAMA);
    expect(c).toMatchObject({
      vocabSize: 32000,
      hiddenSize: 2048,
      intermediateSize: 5632,
      numHiddenLayers: 22,
      numAttentionHeads: 32,
      numKeyValueHeads: 4,
      headDim: 64,
      maxPositionEmbeddings: 2048,
      ropeTheta: 10000,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: false,
      torchDtype: 'bfloat16',
      bosTokenId: 1,
      eosTokenId: 2,
    });
    // TinyLlama-1.1B: 1,100,048,384 parameters.
    expect(parameterCount(c)).toBe(1100048384);
  });

  it('applies HF defaults for optional fields', () => {
    const c = parseLlamaConfig({
      vocab_size: 50,
      hidden_size: 32,
      intermediate_size: 40,
      num_hidden_layers: 2,
      num_attention_heads: 4,
    });
    expect(c.numKeyValueHeads).toBe(4);
    expect(c.headDim).toBe(8);
    expect(c.ropeTheta).toBe(10000);
    expect(c.rmsNormEps).toBe(1e-6);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.maxPositionEmbeddings).toBe(2048);
    expect(c.torchDtype).toBe('float32');
  });

  it('round-trips through config.json', () => {
    const c = llamaConfig({
      ...SMALL,
      numKeyValueHeads: 2,
      tieWordEmbeddings: true,
      eosTokenId: [3, 4],
    });
    const json = llamaConfigToJson(c);
    expect(json.model_type).toBe('llama');
    expect(json.architectures).toEqual(['LlamaForCausalLM']);
    expect(parseLlamaConfig(JSON.parse(JSON.stringify(json)))).toEqual(c);
  });

  it.each([
    ['not an object', [1, 2], /JSON object/],
    [
      'a missing size field',
      { ...TINYLLAMA, hidden_size: undefined },
      /required field hidden_size/,
    ],
    [
      'a fractional layer count',
      { ...TINYLLAMA, num_hidden_layers: 2.5 },
      /num_hidden_layers must be an integer/,
    ],
    ['a string size', { ...TINYLLAMA, vocab_size: '32000' }, /vocab_size must be a number/],
    [
      'heads not dividing hidden',
      { ...TINYLLAMA, num_attention_heads: 30 },
      /must divide hidden_size/,
    ],
    [
      'kv heads not dividing heads',
      { ...TINYLLAMA, num_key_value_heads: 5 },
      /must divide num_attention_heads/,
    ],
    ['an odd head_dim', { ...TINYLLAMA, head_dim: 63 }, /must be even/],
    ['another activation', { ...TINYLLAMA, hidden_act: 'gelu' }, /hidden_act "gelu"/],
    ['RoPE scaling', { ...TINYLLAMA, rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling/],
    ['attention biases', { ...TINYLLAMA, attention_bias: true }, /attention_bias/],
    ['another model type', { ...TINYLLAMA, model_type: 'mistral' }, /model_type "mistral"/],
    ['an eos id outside the vocabulary', { ...TINYLLAMA, eos_token_id: 32000 }, /eos_token_id/],
    ['a negative eps', { ...TINYLLAMA, rms_norm_eps: -1 }, /rms_norm_eps/],
    ['an unknown dtype', { ...TINYLLAMA, torch_dtype: 'float8' }, /torch_dtype/],
    ['a non-boolean tie flag', { ...TINYLLAMA, tie_word_embeddings: 'yes' }, /tie_word_embeddings/],
    ['an absurd size', { ...TINYLLAMA, hidden_size: 2 ** 40 }, /hidden_size must be an integer in/],
  ])('refuses %s', (_what, json, message) => {
    let err: unknown;
    try {
      parseLlamaConfig(json);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    // A ModelError is a CodecError, so the CLI reports it as bad input in one line.
    expect(err).toBeInstanceOf(CodecError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('weights implied by a config', () => {
  it('lists every HF tensor name with its [out, in] shape', () => {
    const c = llamaConfig({ ...SMALL, numKeyValueHeads: 2 });
    const shapes = expectedWeightShapes(c);
    expect(shapes.get('model.embed_tokens.weight')).toEqual([50, 32]);
    expect(shapes.get('model.layers.1.self_attn.q_proj.weight')).toEqual([32, 32]);
    expect(shapes.get('model.layers.1.self_attn.k_proj.weight')).toEqual([16, 32]);
    expect(shapes.get('model.layers.0.mlp.down_proj.weight')).toEqual([32, 40]);
    expect(shapes.get('model.layers.0.post_attention_layernorm.weight')).toEqual([32]);
    expect(shapes.get('lm_head.weight')).toEqual([50, 32]);
    expect(shapes.size).toBe(1 + 2 * 9 + 2);
    const total = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(parameterCount(c)).toBe(total);
    expect(
      expectedWeightShapes(llamaConfig({ ...SMALL, tieWordEmbeddings: true })).has(
        'lm_head.weight',
      ),
    ).toBe(false);
  });

  it('names the tensor when weights disagree with the config', () => {
    const m = createRandomModel(SMALL, 1);
    const w = new Map(m.weights);
    const name = 'model.layers.1.mlp.up_proj.weight';
    w.set(name, { shape: [41, 32], data: new Float32Array(41 * 32) });
    expect(() => validateWeights(m.config, w)).toThrow(
      /model.layers.1.mlp.up_proj.weight has shape \[41,32\]/,
    );
    w.delete(name);
    expect(() => validateWeights(m.config, w)).toThrow(
      /lack tensor model.layers.1.mlp.up_proj.weight/,
    );
    const extra = new Map(m.weights);
    extra.set('model.layers.9.mlp.up_proj.weight', { shape: [1], data: new Float32Array(1) });
    expect(() => validateWeights(m.config, extra)).toThrow(/unexpected tensor model.layers.9/);
  });

  it('makes the same random weights for the same seed', () => {
    const a = createRandomModel(SMALL, 7);
    const b = createRandomModel(SMALL, 7);
    const c = createRandomModel(SMALL, 8);
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(a.weights.get(q)!.data).toEqual(b.weights.get(q)!.data);
    expect(a.weights.get(q)!.data).not.toEqual(c.weights.get(q)!.data);
    // HF initialisation: normal(0, 0.02), norms exactly 1.
    const d = a.weights.get(q)!.data;
    const std = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect(a.weights.get('model.norm.weight')!.data.every((v) => v === 1)).toBe(true);
  });

  it('refuses to allocate a model whose tensors cannot exist', () => {
    expect(() =>
      createRandomModel(
        {
          ...SMALL,
          vocabSize: 1 << 20,
          hiddenSize: 1 << 12,
          numAttentionHeads: 8,
          intermediateSize: 8,
        },
        1,
      ),
    ).toThrow(/too large/);
  });
});
