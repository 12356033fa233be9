/**
 * A model directory, laid out like a Hugging Face checkpoint so both ecosystems read it:
 *
 *   config.json        LlamaConfig fields (config.ts)
 *   model.safetensors  weights under HF names, in the config's torch_dtype
 *   tokenizer.json     the tokenizer/profile JSON, passed through untouched (optional)
 *   onnx/model.onnx    optional export for transformers.js (with generation_config.json)
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  llamaConfig,
  llamaConfigToJson,
  parseLlamaConfig,
  type LlamaConfig,
  type LlamaConfigInit,
  type TorchDtype,
} from './config.js';
import { writeFileAtomic } from './atomic-write.js';
import { buildLlamaOnnx } from './llama-graph.js';
import { ModelError } from './model-error.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import {
  createRandomWeights,
  roundWeights,
  weightsFromSafetensors,
  weightsToRaw,
  type LlamaModel,
  type LlamaWeights,
  type RandomWeightsOptions,
} from './weights.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const TOKENIZER_FILE = 'tokenizer.json';

/** Default refusal limit for model.safetensors (read whole into memory). */
export const DEFAULT_MAX_MODEL_BYTES = 4 * 1024 ** 3 - 1;
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export interface LoadedModelDir extends LlamaModel {
  readonly dir: string;
  /** Parsed tokenizer.json, or undefined when the directory has none. */
  readonly tokenizerJson: unknown;
}

async function readLimited(
  file: string,
  maxBytes: number,
  required: boolean,
): Promise<Buffer | undefined> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!required) return undefined;
      throw new ModelError('io', `${file}: missing (not a model directory?)`);
    }
    throw e;
  }
  if (!st.isFile()) throw new ModelError('io', `${file}: not a regular file`);
  if (st.size > maxBytes) {
    throw new ModelError(
      'too-large',
      `${file}: ${st.size} bytes exceeds the ${maxBytes}-byte limit`,
    );
  }
  return fs.readFile(file);
}

function parseJsonFile(file: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ModelError('corrupt', `${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Prefix a model error with the file it concerns. */
function inFile(file: string, e: unknown): unknown {
  if (e instanceof ModelError) return new ModelError(e.code, `${file}: ${e.message}`, e.offset);
  return e;
}

/** Load and validate a model directory. */
export async function loadModelDir(
  dir: string,
  options: { maxBytes?: number } = {},
): Promise<LoadedModelDir> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st) throw new ModelError('io', `${dir}: no such model directory`);
  if (!st.isDirectory()) throw new ModelError('io', `${dir}: not a directory`);
  const configPath = path.join(dir, CONFIG_FILE);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  const tokenizerPath = path.join(dir, TOKENIZER_FILE);

  const configBytes = (await readLimited(configPath, MAX_JSON_BYTES, true))!;
  let config: LlamaConfig;
  try {
    config = parseLlamaConfig(parseJsonFile(configPath, configBytes));
  } catch (e) {
    throw inFile(configPath, e);
  }
  const weightBytes = (await readLimited(
    weightsPath,
    options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES,
    true,
  ))!;
  let weights;
  try {
    const file = parseSafetensors(
      new Uint8Array(weightBytes.buffer, weightBytes.byteOffset, weightBytes.length),
    );
    weights = weightsFromSafetensors(config, file);
  } catch (e) {
    throw inFile(weightsPath, e);
  }
  const tokBytes = await readLimited(tokenizerPath, MAX_JSON_BYTES, false);
  const tokenizerJson = tokBytes === undefined ? undefined : parseJsonFile(tokenizerPath, tokBytes);
  return { dir, config, weights, tokenizerJson };
}

export interface SaveModelDirInput {
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
  /** tokenizer.json content: a JSON string written verbatim, or a value to serialise. */
  readonly tokenizerJson?: unknown;
  /** Storage dtype; defaults to config.torchDtype. The config written records the dtype used. */
  readonly dtype?: TorchDtype;
  /**
   * Also export onnx/model.onnx (the standard graph with Optimum I/O, float32) and
   * generation_config.json, the layout transformers.js loads from a local directory.
   */
  readonly onnx?: boolean;
}

export const ONNX_FILE = path.join('onnx', 'model.onnx');
export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** Write a model directory (created if missing); each file is replaced atomically. */
export async function saveModelDir(dir: string, model: SaveModelDirInput): Promise<void> {
  const dtype = model.dtype ?? model.config.torchDtype;
  const config: LlamaConfig = { ...model.config, torchDtype: dtype };
  const file = serializeSafetensors(weightsToRaw(config, model.weights, dtype), { format: 'pt' });
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, WEIGHTS_FILE), file);
  await writeFileAtomic(
    path.join(dir, CONFIG_FILE),
    JSON.stringify(llamaConfigToJson(config), null, 2) + '\n',
  );
  if (model.onnx) {
    await fs.mkdir(path.join(dir, 'onnx'), { recursive: true });
    await writeFileAtomic(path.join(dir, ONNX_FILE), buildLlamaOnnx(config, model.weights));
    const gen: Record<string, unknown> = {};
    if (config.bosTokenId !== undefined) gen.bos_token_id = config.bosTokenId;
    if (config.eosTokenId !== undefined) gen.eos_token_id = config.eosTokenId;
    if (config.padTokenId !== undefined) gen.pad_token_id = config.padTokenId;
    await writeFileAtomic(
      path.join(dir, GENERATION_CONFIG_FILE),
      JSON.stringify(gen, null, 2) + '\n',
    );
  }
  if (model.tokenizerJson !== undefined) {
    const text =
      typeof model.tokenizerJson === 'string'
        ? model.tokenizerJson
        : JSON.stringify(model.tokenizerJson, null, 2) + '\n';
    await writeFileAtomic(path.join(dir, TOKENIZER_FILE), text);
  }
}

/**
 * A seeded random-weight model (for tests and benchmarks). The weights are rounded through the
 * config's torch_dtype, so saving and reloading the model gives exactly these values.
 */
export function createRandomModel(
  config: LlamaConfig | LlamaConfigInit,
  seed: number,
  options: RandomWeightsOptions = {},
): LlamaModel {
  const cfg = llamaConfig(config);
  let weights: LlamaWeights = createRandomWeights(cfg, seed, options);
  if (cfg.torchDtype !== 'float32') weights = roundWeights(weights, cfg.torchDtype);
  return { config: cfg, weights };
}
