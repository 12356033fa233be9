/**
 * Training configuration: a JSON file (snake_case keys, the model under "model" with Hugging Face
 * LlamaConfig field names, so a config.json can be pasted in) merged with overrides (command-line
 * flags). Unknown keys are refused, so a typo never silently trains with a default.
 */

import { llamaConfig, type LlamaConfig } from '../config.js';
import { ModelError } from '../model-error.js';

export interface ModelShape {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim?: number;
  /** Default: max(seq_len, 8192), so generation may run past the training window. */
  readonly maxPositionEmbeddings?: number;
  readonly ropeTheta: number;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
}

export interface TrainConfig {
  readonly model: ModelShape;
  /** Optimizer steps in total (each of gradAccum micro-batches). */
  readonly steps: number;
  /** Sequences per micro-batch. */
  readonly batchSize: number;
  readonly seqLen: number;
  readonly gradAccum: number;
  /** Peak learning rate, reached after the warmup. */
  readonly lr: number;
  /** Floor of the cosine decay. */
  readonly minLr: number;
  readonly warmupSteps: number;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Global gradient-norm clipping threshold; 0 = off. */
  readonly gradClip: number;
  /** Probability of replacing a sample's class token by NULL_CLASS. */
  readonly classDropout: number;
  readonly seed: number;
  /** Standard deviation of the initial projection and embedding weights (HF initializer_range). */
  readonly initStd: number;
  /** Validate every N steps (0: only at the end). */
  readonly valEvery: number;
  /** Validation batches per validation (at most). */
  readonly valBatches: number;
  /** Checkpoint every N steps (0: only at the end and on interruption). */
  readonly checkpointEvery: number;
  /** Log a training line every N steps. */
  readonly logEvery: number;
  /** ORT intra-op threads (default: the CPUs available). */
  readonly threads?: number;
}

/** A small model (about 5M weights with a byte vocabulary) and a GPT-style recipe. */
export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  model: {
    hiddenSize: 256,
    intermediateSize: 688,
    numHiddenLayers: 6,
    numAttentionHeads: 4,
    numKeyValueHeads: 4,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: false,
  },
  steps: 2000,
  batchSize: 8,
  seqLen: 512,
  gradAccum: 1,
  lr: 1e-3,
  minLr: 1e-4,
  warmupSteps: 100,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  gradClip: 1,
  classDropout: 0.1,
  seed: 1,
  initStd: 0.02,
  valEvery: 200,
  valBatches: 16,
  checkpointEvery: 200,
  logEvery: 10,
};

type Key = Exclude<keyof TrainConfig, 'model'>;

/** JSON key -> config field, and how to check the value. */
const FIELDS: Readonly<Record<string, { key: Key; kind: 'int' | 'num' | 'prob' }>> = {
  steps: { key: 'steps', kind: 'int' },
  batch_size: { key: 'batchSize', kind: 'int' },
  seq_len: { key: 'seqLen', kind: 'int' },
  grad_accum: { key: 'gradAccum', kind: 'int' },
  lr: { key: 'lr', kind: 'num' },
  min_lr: { key: 'minLr', kind: 'num' },
  warmup_steps: { key: 'warmupSteps', kind: 'int' },
  weight_decay: { key: 'weightDecay', kind: 'num' },
  beta1: { key: 'beta1', kind: 'prob' },
  beta2: { key: 'beta2', kind: 'prob' },
  eps: { key: 'eps', kind: 'num' },
  grad_clip: { key: 'gradClip', kind: 'num' },
  class_dropout: { key: 'classDropout', kind: 'prob' },
  seed: { key: 'seed', kind: 'int' },
  init_std: { key: 'initStd', kind: 'num' },
  val_every: { key: 'valEvery', kind: 'int' },
  val_batches: { key: 'valBatches', kind: 'int' },
  checkpoint_every: { key: 'checkpointEvery', kind: 'int' },
  log_every: { key: 'logEvery', kind: 'int' },
  threads: { key: 'threads', kind: 'int' },
};

const MODEL_FIELDS: Readonly<Record<string, keyof ModelShape>> = {
  hidden_size: 'hiddenSize',
  intermediate_size: 'intermediateSize',
  num_hidden_layers: 'numHiddenLayers',
  num_attention_heads: 'numAttentionHeads',
  num_key_value_heads: 'numKeyValueHeads',
  head_dim: 'headDim',
  max_position_embeddings: 'maxPositionEmbeddings',
  rope_theta: 'ropeTheta',
  rms_norm_eps: 'rmsNormEps',
  tie_word_embeddings: 'tieWordEmbeddings',
};
/** HF config.json fields accepted in "model" but fixed by the tokenizer or the architecture. */
const MODEL_IGNORED = new Set([
  'vocab_size',
  'architectures',
  'model_type',
  'hidden_act',
  'attention_bias',
  'mlp_bias',
  'rope_scaling',
  'torch_dtype',
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
]);

function bad(message: string): never {
  throw new ModelError('invalid-argument', message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkValue(name: string, v: unknown, kind: 'int' | 'num' | 'prob'): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${name} must be a number`);
  if (kind === 'int' && (!Number.isInteger(v) || v < 0)) bad(`${name} must be an integer >= 0`);
  if (kind === 'num' && v < 0) bad(`${name} must be >= 0`);
  if (kind === 'prob' && (v < 0 || v >= 1)) bad(`${name} must lie in [0, 1)`);
  return v;
}

/** The training config a JSON value (the --config file) and overrides describe. */
export function resolveTrainConfig(
  json: unknown = {},
  overrides: Partial<Omit<TrainConfig, 'model'>> = {},
): TrainConfig {
  if (!isRecord(json)) bad('the training config must be a JSON object');
  const out: Record<string, unknown> = { ...DEFAULT_TRAIN_CONFIG };
  let model: Record<string, unknown> = { ...DEFAULT_TRAIN_CONFIG.model };
  for (const [k, v] of Object.entries(json)) {
    if (k === 'model') {
      if (!isRecord(v)) bad('"model" must be an object of Hugging Face LlamaConfig fields');
      model = { ...model, ...parseModel(v) };
      continue;
    }
    if (k === '$schema' || k === 'comment') continue;
    const f = FIELDS[k];
    if (!f)
      bad(`unknown training config key "${k}" (known: model, ${Object.keys(FIELDS).join(', ')})`);
    out[f.key] = checkValue(k, v, f.kind);
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    const entry = Object.entries(FIELDS).find(([, f]) => f.key === k);
    if (!entry) bad(`unknown training option ${k}`);
    out[k] = checkValue(entry[0], v, entry[1].kind);
  }
  const cfg = { ...out, model } as unknown as TrainConfig;
  checkTrainConfig(cfg);
  return cfg;
}

function parseModel(m: Record<string, unknown>): Partial<ModelShape> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (MODEL_IGNORED.has(k)) continue;
    const key = MODEL_FIELDS[k];
    if (!key) bad(`unknown model field "${k}" (known: ${Object.keys(MODEL_FIELDS).join(', ')})`);
    if (key === 'tieWordEmbeddings') {
      if (typeof v !== 'boolean') bad('tie_word_embeddings must be true or false');
      out[key] = v;
    } else if (v !== null) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
        bad(`${k} must be a positive number`);
      out[key] = v;
    }
  }
  return out as Partial<ModelShape>;
}

function checkTrainConfig(c: TrainConfig): void {
  const positive = ['steps', 'batchSize', 'seqLen', 'gradAccum', 'logEvery', 'valBatches'] as const;
  for (const k of positive) if (!(c[k] >= 1)) bad(`${k} must be at least 1`);
  if (!(c.lr > 0)) bad('lr must be > 0');
  if (c.minLr > c.lr) bad(`min_lr (${c.minLr}) exceeds lr (${c.lr})`);
  if (!(c.eps > 0)) bad('eps must be > 0');
  if (c.seed > 0xffffffff) bad('seed must be below 2^32');
  if (c.threads !== undefined && c.threads < 1) bad('threads must be at least 1');
  const maxPos = c.model.maxPositionEmbeddings;
  if (maxPos !== undefined && maxPos < c.seqLen) {
    bad(`seq_len (${c.seqLen}) exceeds max_position_embeddings (${maxPos})`);
  }
  // Refuse absurd sizes before anything is allocated (about 4 GiB of state per 1G weights).
  const h = c.model.hiddenSize;
  const perLayer = 4 * h * h + 3 * h * c.model.intermediateSize;
  if (perLayer * c.model.numHiddenLayers > 2e9) bad('the model is too large to train here');
  if (c.batchSize * c.seqLen > 1 << 24) bad('batch_size * seq_len is too large');
}

/** The model config for a vocabulary (token ids of the jpeglm tokenizer). */
export function modelConfigFor(
  c: TrainConfig,
  vocab: { vocabSize: number; bos: number; eos: number; pad: number },
): LlamaConfig {
  const m = c.model;
  return llamaConfig({
    vocabSize: vocab.vocabSize,
    hiddenSize: m.hiddenSize,
    intermediateSize: m.intermediateSize,
    numHiddenLayers: m.numHiddenLayers,
    numAttentionHeads: m.numAttentionHeads,
    numKeyValueHeads: m.numKeyValueHeads,
    ...(m.headDim !== undefined ? { headDim: m.headDim } : {}),
    maxPositionEmbeddings: m.maxPositionEmbeddings ?? Math.max(c.seqLen, 8192),
    ropeTheta: m.ropeTheta,
    rmsNormEps: m.rmsNormEps,
    tieWordEmbeddings: m.tieWordEmbeddings,
    torchDtype: 'float32',
    bosTokenId: vocab.bos,
    eosTokenId: vocab.eos,
    padTokenId: vocab.pad,
  });
}

/** The config as JSON (the file format `resolveTrainConfig` reads). */
export function trainConfigToJson(c: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const model: Record<string, unknown> = {};
  for (const [k, key] of Object.entries(MODEL_FIELDS)) {
    if (c.model[key] !== undefined) model[k] = c.model[key];
  }
  out.model = model;
  for (const [k, f] of Object.entries(FIELDS)) if (c[f.key] !== undefined) out[k] = c[f.key];
  return out;
}

/**
 * Settings that shape the training trajectory and may not change on resume (the schedule,
 * step count, logging and thread count may).
 */
export const RESUME_FIXED: readonly Key[] = [
  'batchSize',
  'seqLen',
  'gradAccum',
  'weightDecay',
  'beta1',
  'beta2',
  'eps',
  'gradClip',
  'classDropout',
  'seed',
  'initStd',
];
