/**
 * The model configuration: the Hugging Face `LlamaConfig` fields (transformers
 * `models/llama/configuration_llama.py`), so a model directory written here loads in transformers
 * and a Llama config.json from the Hub loads here. Only the plain Llama architecture is accepted:
 * SiLU activation, no attention/MLP biases, no RoPE scaling.
 */

import { ModelError } from './model-error.js';

/** Storage precision of the weights in model.safetensors (HF `torch_dtype`). */
export type TorchDtype = 'float32' | 'float16' | 'bfloat16';

export interface LlamaConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  /** Grouped-query attention: each K/V head serves numAttentionHeads / numKeyValueHeads query heads. */
  readonly numKeyValueHeads: number;
  /** hidden_size / num_attention_heads unless config.json says otherwise (HF `head_dim`). */
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
  readonly ropeTheta: number;
  readonly rmsNormEps: number;
  /** The LM head reuses the token embedding matrix (no lm_head.weight tensor). */
  readonly tieWordEmbeddings: boolean;
  readonly torchDtype: TorchDtype;
  readonly bosTokenId?: number;
  readonly eosTokenId?: number | readonly number[];
  readonly padTokenId?: number;
}

/** What a caller must give to make a config; everything else takes the HF LlamaConfig default. */
export type LlamaConfigInit = Pick<
  LlamaConfig,
  'vocabSize' | 'hiddenSize' | 'intermediateSize' | 'numHiddenLayers' | 'numAttentionHeads'
> &
  Partial<LlamaConfig>;

/** Refusal limits, so an absurd config is rejected before anything is allocated. */
const MAX_DIM = 1 << 20;
const MAX_LAYERS = 4096;

/** Build a validated config, filling HF LlamaConfig defaults. */
export function llamaConfig(init: LlamaConfigInit): LlamaConfig {
  const numKeyValueHeads = init.numKeyValueHeads ?? init.numAttentionHeads;
  const cfg: LlamaConfig = {
    vocabSize: init.vocabSize,
    hiddenSize: init.hiddenSize,
    intermediateSize: init.intermediateSize,
    numHiddenLayers: init.numHiddenLayers,
    numAttentionHeads: init.numAttentionHeads,
    numKeyValueHeads,
    headDim: init.headDim ?? Math.floor(init.hiddenSize / init.numAttentionHeads),
    maxPositionEmbeddings: init.maxPositionEmbeddings ?? 2048,
    ropeTheta: init.ropeTheta ?? 10000,
    rmsNormEps: init.rmsNormEps ?? 1e-6,
    tieWordEmbeddings: init.tieWordEmbeddings ?? false,
    torchDtype: init.torchDtype ?? 'float32',
    ...(init.bosTokenId !== undefined ? { bosTokenId: init.bosTokenId } : {}),
    ...(init.eosTokenId !== undefined ? { eosTokenId: init.eosTokenId } : {}),
    ...(init.padTokenId !== undefined ? { padTokenId: init.padTokenId } : {}),
  };
  validateConfig(cfg, init.headDim === undefined);
  return cfg;
}

function fail(message: string): never {
  throw new ModelError('corrupt', message);
}

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkPositive(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    fail(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function validateConfig(c: LlamaConfig, headDimDerived: boolean): void {
  checkInt('vocab_size', c.vocabSize, 1, MAX_DIM);
  checkInt('hidden_size', c.hiddenSize, 1, MAX_DIM);
  checkInt('intermediate_size', c.intermediateSize, 1, MAX_DIM);
  checkInt('num_hidden_layers', c.numHiddenLayers, 1, MAX_LAYERS);
  checkInt('num_attention_heads', c.numAttentionHeads, 1, MAX_DIM);
  checkInt('num_key_value_heads', c.numKeyValueHeads, 1, MAX_DIM);
  checkInt('max_position_embeddings', c.maxPositionEmbeddings, 1, MAX_DIM);
  checkPositive('rope_theta', c.ropeTheta);
  checkPositive('rms_norm_eps', c.rmsNormEps);
  if (headDimDerived && c.hiddenSize % c.numAttentionHeads !== 0) {
    fail(`num_attention_heads (${c.numAttentionHeads}) must divide hidden_size (${c.hiddenSize})`);
  }
  checkInt('head_dim', c.headDim, 2, MAX_DIM);
  // HF's rotate_half splits each head in two halves.
  if (c.headDim % 2 !== 0) fail(`head_dim (${c.headDim}) must be even for rotary embeddings`);
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    fail(
      `num_key_value_heads (${c.numKeyValueHeads}) must divide num_attention_heads (${c.numAttentionHeads})`,
    );
  }
  if (c.numAttentionHeads * c.headDim > MAX_DIM) {
    fail(`num_attention_heads * head_dim (${c.numAttentionHeads * c.headDim}) is too large`);
  }
  if (typeof c.tieWordEmbeddings !== 'boolean') {
    fail(`tie_word_embeddings must be true or false`);
  }
  if (!['float32', 'float16', 'bfloat16'].includes(c.torchDtype)) {
    fail(`torch_dtype must be float32, float16 or bfloat16, got ${JSON.stringify(c.torchDtype)}`);
  }
  for (const [name, v] of [
    ['bos_token_id', c.bosTokenId],
    ['pad_token_id', c.padTokenId],
  ] as const) {
    if (v !== undefined) checkInt(name, v, 0, c.vocabSize - 1);
  }
  if (c.eosTokenId !== undefined) {
    const ids = typeof c.eosTokenId === 'number' ? [c.eosTokenId] : c.eosTokenId;
    if (!Array.isArray(ids)) fail('eos_token_id must be an integer or a list of integers');
    for (const id of ids) checkInt('eos_token_id', id, 0, c.vocabSize - 1);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse a Hugging Face Llama config.json object. The five size fields are required (HF's
 * defaults describe a 7B model, never what a caller here means); the rest default like HF.
 */
export function parseLlamaConfig(json: unknown): LlamaConfig {
  if (!isRecord(json)) fail('config.json must hold a JSON object');
  const j = json;
  if (j.model_type !== undefined && j.model_type !== 'llama') {
    fail(`model_type ${JSON.stringify(j.model_type)} is not supported (expected "llama")`);
  }
  if (j.hidden_act !== undefined && j.hidden_act !== 'silu') {
    fail(`hidden_act ${JSON.stringify(j.hidden_act)} is not supported (expected "silu")`);
  }
  for (const flag of ['attention_bias', 'mlp_bias'] as const) {
    if (j[flag] !== undefined && j[flag] !== false) fail(`${flag} = true is not supported`);
  }
  if (j.rope_scaling !== undefined && j.rope_scaling !== null) {
    fail('rope_scaling is not supported');
  }
  for (const req of [
    'vocab_size',
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'num_attention_heads',
  ]) {
    if (j[req] === undefined) fail(`config.json lacks the required field ${req}`);
  }
  const num = (k: string): number | undefined => {
    const v = j[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') fail(`${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const tie = j.tie_word_embeddings;
  if (tie !== undefined && typeof tie !== 'boolean') fail('tie_word_embeddings must be a boolean');
  const dtype = j.torch_dtype ?? j.dtype;
  if (dtype !== undefined && typeof dtype !== 'string') fail('torch_dtype must be a string');
  const eos = j.eos_token_id;
  if (
    eos !== undefined &&
    eos !== null &&
    typeof eos !== 'number' &&
    !(Array.isArray(eos) && eos.every((e) => typeof e === 'number'))
  ) {
    fail('eos_token_id must be an integer or a list of integers');
  }
  const init: LlamaConfigInit = {
    vocabSize: num('vocab_size')!,
    hiddenSize: num('hidden_size')!,
    intermediateSize: num('intermediate_size')!,
    numHiddenLayers: num('num_hidden_layers')!,
    numAttentionHeads: num('num_attention_heads')!,
    numKeyValueHeads: num('num_key_value_heads'),
    headDim: num('head_dim'),
    maxPositionEmbeddings: num('max_position_embeddings'),
    ropeTheta: num('rope_theta'),
    rmsNormEps: num('rms_norm_eps'),
    tieWordEmbeddings: tie,
    torchDtype: dtype as TorchDtype | undefined,
    bosTokenId: num('bos_token_id'),
    padTokenId: num('pad_token_id'),
    eosTokenId: eos === null ? undefined : (eos as number | number[] | undefined),
  };
  return llamaConfig(init);
}

/** The config.json object (HF field names) for a config. */
export function llamaConfigToJson(c: LlamaConfig): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositionEmbeddings,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieWordEmbeddings,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    rope_scaling: null,
    torch_dtype: c.torchDtype,
  };
  if (c.bosTokenId !== undefined) json.bos_token_id = c.bosTokenId;
  if (c.eosTokenId !== undefined) json.eos_token_id = c.eosTokenId;
  if (c.padTokenId !== undefined) json.pad_token_id = c.padTokenId;
  return json;
}

/** Number of weights (elements), tied embeddings counted once. */
export function parameterCount(c: LlamaConfig): number {
  const h = c.hiddenSize;
  const d = c.headDim;
  const attn = h * c.numAttentionHeads * d * 2 + h * c.numKeyValueHeads * d * 2;
  const mlp = 3 * h * c.intermediateSize;
  const perLayer = attn + mlp + 2 * h;
  const embed = c.vocabSize * h;
  return embed + c.numHiddenLayers * perLayer + h + (c.tieWordEmbeddings ? 0 : embed);
}
