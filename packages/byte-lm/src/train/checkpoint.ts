/**
 * Training checkpoints: everything needed to continue a run on exactly the trajectory it was on.
 *
 *   OUT/checkpoint/config.json             model config (HF LlamaConfig)
 *   OUT/checkpoint/model.safetensors       weights, F32 (HF names)
 *   OUT/checkpoint/optimizer.safetensors   AdamW moments, F32: adam_m.<weight>, adam_v.<weight>
 *   OUT/checkpoint/trainer-state.json      step, data position, tokens seen, the training config
 *                                          and the data it was trained on
 *
 * A checkpoint is written to a fresh directory and renamed into place, the previous one moved
 * aside first and removed last, so an interruption at any moment leaves a complete checkpoint
 * (`checkpoint`, or `checkpoint.old` if it struck between the two renames).
 */

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { llamaConfigToJson, parseLlamaConfig, type LlamaConfig } from '../config.js';
import { ModelError } from '../model-error.js';
import { parseSafetensors, serializeSafetensors, type RawTensor } from '../safetensors.js';
import { expectedWeightShapes, rawToFloat32 } from '../weights.js';
import type { DataPosition } from './data.js';
import type { OptimizerState } from './session.js';
import {
  RESUME_FIXED,
  resolveTrainConfig,
  trainConfigToJson,
  type TrainConfig,
} from './train-config.js';

export const CHECKPOINT_DIR = 'checkpoint';
const OLD_SUFFIX = '.old';
export const TRAIN_STATE_FORMAT = 'jpeglm-train-state';
export const TRAIN_STATE_VERSION = 1;
const MAX_STATE_JSON_BYTES = 16 * 1024 * 1024;

/** What the data looked like: shards and their sizes, so a resume on other data is refused. */
export interface DataFingerprint {
  readonly shards: readonly { readonly name: string; readonly tokens: number }[];
}

export interface TrainerProgress {
  /** Optimizer steps done. */
  readonly step: number;
  readonly position: DataPosition;
  readonly tokensSeen: number;
  readonly elapsedSeconds: number;
}

export interface Checkpoint {
  readonly config: TrainConfig;
  readonly modelConfig: LlamaConfig;
  readonly progress: TrainerProgress;
  readonly optimizer: OptimizerState;
  readonly data: DataFingerprint;
}

function f32(shape: readonly number[], data: Float32Array): RawTensor {
  return {
    dtype: 'F32',
    shape,
    bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

async function writeFile(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write `OUT/checkpoint` atomically (see the module comment). */
export async function saveCheckpoint(outDir: string, ckpt: Checkpoint): Promise<void> {
  const shapes = expectedWeightShapes(ckpt.modelConfig);
  const weights: [string, RawTensor][] = [];
  const moments: [string, RawTensor][] = [];
  for (const [name, shape] of shapes) {
    weights.push([name, f32(shape, ckpt.optimizer.weights.get(name)!)]);
    moments.push([`adam_m.${name}`, f32(shape, ckpt.optimizer.m.get(name)!)]);
    moments.push([`adam_v.${name}`, f32(shape, ckpt.optimizer.v.get(name)!)]);
  }
  const state = {
    format: TRAIN_STATE_FORMAT,
    version: TRAIN_STATE_VERSION,
    step: ckpt.progress.step,
    epoch: ckpt.progress.position.epoch,
    cursor: ckpt.progress.position.cursor,
    tokens_seen: ckpt.progress.tokensSeen,
    elapsed_seconds: ckpt.progress.elapsedSeconds,
    train_config: trainConfigToJson(ckpt.config),
    data: ckpt.data,
  };
  await fs.mkdir(outDir, { recursive: true });
  const final = path.join(outDir, CHECKPOINT_DIR);
  const tmp = path.join(outDir, `.${CHECKPOINT_DIR}.${randomBytes(6).toString('hex')}.tmp`);
  await fs.mkdir(tmp);
  try {
    await writeFile(
      path.join(tmp, 'config.json'),
      JSON.stringify(llamaConfigToJson(ckpt.modelConfig), null, 2) + '\n',
    );
    await writeFile(path.join(tmp, 'model.safetensors'), serializeSafetensors(weights));
    await writeFile(path.join(tmp, 'optimizer.safetensors'), serializeSafetensors(moments));
    await writeFile(path.join(tmp, 'trainer-state.json'), JSON.stringify(state, null, 2) + '\n');
    // At every moment `final` or `old` holds a whole checkpoint: `old` is removed only while
    // `final` exists (when it does not, `old` may be the only one, left by an earlier crash).
    const old = final + OLD_SUFFIX;
    if (await exists(final)) {
      await fs.rm(old, { recursive: true, force: true });
      await fs.rename(final, old);
    }
    await fs.rename(tmp, final);
    await fs.rm(old, { recursive: true, force: true });
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** The checkpoint directory of a run, if there is one. */
export async function findCheckpoint(outDir: string): Promise<string | undefined> {
  const final = path.join(outDir, CHECKPOINT_DIR);
  if (await exists(final)) return final;
  if (await exists(final + OLD_SUFFIX)) return final + OLD_SUFFIX;
  return undefined;
}

function corrupt(dir: string, why: string): never {
  throw new ModelError('corrupt', `${dir}: ${why}`);
}

async function readJson(file: string): Promise<unknown> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new ModelError('io', `${file}: missing (incomplete checkpoint?)`);
  if (st.size > MAX_STATE_JSON_BYTES) corrupt(file, 'too large');
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return corrupt(file, 'not valid JSON');
  }
}

async function readTensors(
  file: string,
  names: readonly [string, readonly number[]][],
): Promise<Map<string, Float32Array>> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new ModelError('io', `${file}: missing (incomplete checkpoint?)`);
  const bytes = await fs.readFile(file);
  let parsed;
  try {
    parsed = parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (e) {
    throw new ModelError('corrupt', `${file}: ${(e as Error).message}`);
  }
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of names) {
    const t = parsed.tensors.get(name);
    if (!t) corrupt(file, `lacks tensor ${name}`);
    if (t.dtype !== 'F32' || t.shape.join() !== shape.join()) {
      corrupt(file, `tensor ${name} is ${t.dtype} [${t.shape}], expected F32 [${shape}]`);
    }
    out.set(name, rawToFloat32(t));
  }
  if (parsed.tensors.size !== names.length) corrupt(file, 'holds tensors of another model');
  return out;
}

/** Read a checkpoint directory written by `saveCheckpoint`. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const state = (await readJson(path.join(dir, 'trainer-state.json'))) as Record<string, unknown>;
  if (state?.format !== TRAIN_STATE_FORMAT)
    corrupt(dir, 'trainer-state.json is not a jpeglm training state');
  if (state.version !== TRAIN_STATE_VERSION) {
    corrupt(
      dir,
      `training state version ${String(state.version)} (this reads ${TRAIN_STATE_VERSION})`,
    );
  }
  const int = (k: string): number => {
    const v = state[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      corrupt(dir, `bad "${k}" in trainer-state.json`);
    return v;
  };
  let config: TrainConfig;
  let modelConfig: LlamaConfig;
  try {
    config = resolveTrainConfig(state.train_config);
    modelConfig = parseLlamaConfig(await readJson(path.join(dir, 'config.json')));
  } catch (e) {
    throw new ModelError('corrupt', `${dir}: ${(e as Error).message}`);
  }
  const data = state.data as DataFingerprint;
  if (!data || !Array.isArray(data.shards))
    corrupt(dir, 'trainer-state.json lacks the data fingerprint');
  const shapes = [...expectedWeightShapes(modelConfig)];
  const weights = await readTensors(path.join(dir, 'model.safetensors'), shapes);
  const moments = await readTensors(
    path.join(dir, 'optimizer.safetensors'),
    shapes.flatMap(([n, s]): [string, number[]][] => [
      [`adam_m.${n}`, s],
      [`adam_v.${n}`, s],
    ]),
  );
  const pick = (prefix: string): Map<string, Float32Array> =>
    new Map(shapes.map(([n]) => [n, moments.get(prefix + n)!]));
  return {
    config,
    modelConfig,
    progress: {
      step: int('step'),
      position: { epoch: int('epoch'), cursor: int('cursor') },
      tokensSeen: int('tokens_seen'),
      elapsedSeconds: typeof state.elapsed_seconds === 'number' ? state.elapsed_seconds : 0,
    },
    optimizer: { weights, m: pick('adam_m.'), v: pick('adam_v.') },
    data,
  };
}

/**
 * Refuse to resume a checkpoint under a config or data it was not trained with; says what
 * differs.
 */
export function checkResumable(
  dir: string,
  ckpt: Checkpoint,
  config: TrainConfig,
  modelConfig: LlamaConfig,
  data: DataFingerprint,
): void {
  const a = llamaConfigToJson(ckpt.modelConfig);
  const b = llamaConfigToJson(modelConfig);
  for (const k of Object.keys({ ...a, ...b })) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      throw new ModelError(
        'invalid-argument',
        `${dir} was trained with ${k} = ${JSON.stringify(a[k])}, this run asks for ${JSON.stringify(b[k])} (a checkpoint of another model config)`,
      );
    }
  }
  for (const k of RESUME_FIXED) {
    if (ckpt.config[k] !== config[k]) {
      throw new ModelError(
        'invalid-argument',
        `${dir} was trained with ${k} = ${String(ckpt.config[k])}, this run asks for ${String(config[k])}; resuming needs the same value`,
      );
    }
  }
  if (JSON.stringify(ckpt.data.shards) !== JSON.stringify(data.shards)) {
    throw new ModelError(
      'invalid-argument',
      `${dir} was trained on other data (${ckpt.data.shards.length} shards, ${sumTokens(ckpt.data)} tokens; now ${data.shards.length} shards, ${sumTokens(data)} tokens)`,
    );
  }
}

function sumTokens(d: DataFingerprint): number {
  return d.shards.reduce((a, s) => a + s.tokens, 0);
}

/** The training config stored with a run's checkpoint (reads only trainer-state.json). */
export async function checkpointTrainConfig(outDir: string): Promise<TrainConfig | undefined> {
  const dir = await findCheckpoint(outDir);
  if (!dir) return undefined;
  const state = (await readJson(path.join(dir, 'trainer-state.json'))) as Record<string, unknown>;
  if (state?.format !== TRAIN_STATE_FORMAT) {
    corrupt(dir, 'trainer-state.json is not a jpeglm training state');
  }
  try {
    return resolveTrainConfig(state.train_config);
  } catch (e) {
    throw new ModelError('corrupt', `${dir}: ${(e as Error).message}`);
  }
}
