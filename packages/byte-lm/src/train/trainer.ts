/**
 * The training loop: data from token shards, steps on ONNX Runtime, validation in bits per byte,
 * checkpoints that resume to the same trajectory, a JSONL log, and a model directory that
 * `loadModelDir` / `OnnxCausalLM.fromModelDir` load directly.
 *
 *   DATA/                         a `jpeglm prep` folder (shards.ts)
 *
 *   OUT/config.json, model.safetensors, tokenizer.json     the model (rewritten at checkpoints)
 *   OUT/checkpoint/                                        checkpoint.ts
 *   OUT/train-log.jsonl                                    one JSON event per line
 */

import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { DatasetTokenizer } from '../dataset/prep.js';
import { llamaConfigToJson, parameterCount, type LlamaConfig } from '../config.js';
import { ModelError } from '../model-error.js';
import { writeFileAtomic } from '../atomic-write.js';
import { loadModelDir, saveModelDir, WEIGHTS_FILE } from '../model-dir.js';
import { createRandomWeights, type LlamaWeights } from '../weights.js';
import {
  checkResumable,
  findCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type DataFingerprint,
} from './checkpoint.js';
import { BatchLoader, TokenStream, validationBatches, windowCount, type Batch } from './data.js';
import { checkSchedule, learningRate, type LrSchedule } from './schedule.js';
import { TrainingSession, type OptimizerState } from './session.js';
import { locateTrainingData } from './shards.js';
import { modelConfigFor, trainConfigToJson, type TrainConfig } from './train-config.js';
import { IGNORE_INDEX, decayed } from './train-graph.js';

export const TRAIN_LOG_FILE = 'train-log.jsonl';

export type TrainEvent =
  | {
      readonly kind: 'start';
      readonly resumed: boolean;
      /** The model directory a new run started from (`init`), if any. */
      readonly initialisedFrom?: string;
      readonly step: number;
      readonly steps: number;
      readonly parameters: number;
      readonly trainTokens: number;
      readonly valTokens: number;
      /** False when there is no validation split, or it holds less than one window. */
      readonly validation: boolean;
      readonly tokensPerStep: number;
    }
  | {
      readonly kind: 'step';
      readonly step: number;
      readonly steps: number;
      readonly loss: number;
      readonly lr: number;
      readonly gradNorm: number;
      readonly epoch: number;
      readonly tokensPerSecond: number;
      readonly elapsedSeconds: number;
      readonly etaSeconds: number;
    }
  | {
      readonly kind: 'validation';
      readonly step: number;
      readonly bitsPerByte: number;
      readonly loss: number;
      readonly tokens: number;
    }
  | { readonly kind: 'checkpoint'; readonly step: number; readonly dir: string }
  | {
      /** A validation better than every earlier one of the run: its weights are in `dir`. */
      readonly kind: 'best';
      readonly step: number;
      readonly bitsPerByte: number;
      readonly dir: string;
    }
  | { readonly kind: 'done' | 'interrupted'; readonly step: number };

export interface TrainOptions {
  readonly dataDir: string;
  readonly outDir: string;
  readonly config: TrainConfig;
  /** Continue the checkpoint in outDir (refused when its config or data differ). */
  readonly resume?: boolean;
  /**
   * Start from this model directory's weights instead of random ones (fine-tuning; the optimizer
   * state starts fresh). Its shape must be the config's and its vocabulary (bytes, special and
   * class tokens) the data's; its profile may differ. Only for a new run, not with `resume`.
   */
  readonly init?: string;
  /** Abort = stop after the current step, save a checkpoint, return `interrupted`. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: TrainEvent) => void;
}

export interface TrainResult {
  readonly step: number;
  readonly interrupted: boolean;
  /** Loss of the last step run in this call (undefined if none ran). */
  readonly lastLoss: number | undefined;
  /** Bits per byte of the last validation (undefined without validation data). */
  readonly lastBitsPerByte: number | undefined;
}

/** A data directory, opened: tokenizer, streams, and what its tokens are worth in bytes. */
export interface OpenedTrainingData {
  readonly tokenizer: DatasetTokenizer;
  readonly tokenizerText: string;
  readonly train: TokenStream;
  readonly val: TokenStream | undefined;
  readonly fingerprint: DataFingerprint;
  /** Bytes each token id stands for (0 for special and class tokens). */
  readonly tokenBytes: Uint32Array;
  close(): void;
}

/** Open and check a data folder (see shards.ts for its layout). */
export async function openTrainingData(dir: string): Promise<OpenedTrainingData> {
  const found = await locateTrainingData(dir);
  const tokenizer = found.tokenizer;
  if (found.train.length === 0) {
    throw new ModelError('io', `${dir}: no training shards`);
  }
  const train = await TokenStream.open(found.train, tokenizer);
  let val: TokenStream | undefined;
  try {
    val = found.val.length > 0 ? await TokenStream.open(found.val, tokenizer) : undefined;
  } catch (e) {
    train.close();
    throw e;
  }
  const tokenBytes = new Uint32Array(tokenizer.vocabSize);
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    tokenBytes[id] = tokenizer.tokenBytes(id)?.length ?? 0;
  }
  return {
    tokenizer,
    tokenizerText: found.tokenizerText,
    train,
    val,
    fingerprint: {
      shards: train.shards.map((s) => ({ name: path.basename(s.file), tokens: s.tokens })),
    },
    tokenBytes,
    close: () => {
      train.close();
      val?.close();
    },
  };
}

/** Bits per byte of the model on validation batches (score.ts's measure, on packed windows). */
export async function validate(
  session: TrainingSession,
  batches: Iterable<Batch>,
  tokenBytes: Uint32Array,
): Promise<{ bitsPerByte: number; loss: number; tokens: number }> {
  let nats = 0;
  let bytes = 0;
  let scored = 0;
  for (const b of batches) {
    const nll = await session.tokenNll(b);
    for (let i = 0; i < nll.length; i++) {
      const t = Number(b.targets[i]);
      if (t === IGNORE_INDEX) continue;
      nats += nll[i];
      bytes += tokenBytes[t];
      scored++;
    }
  }
  return {
    bitsPerByte: bytes > 0 ? nats / Math.LN2 / bytes : Number.NaN,
    loss: scored > 0 ? nats / scored : Number.NaN,
    tokens: scored,
  };
}

/** Under the output folder: the model directory of the best validation so far. */
const BEST_DIR = 'best';
/** In BEST_DIR: its step and validation bits per byte (read on resume). */
const BEST_FILE = 'best.json';

interface BestValidation {
  readonly step: number;
  readonly bitsPerByte: number;
}

async function readBest(outDir: string): Promise<BestValidation | undefined> {
  const text = await fs.readFile(path.join(outDir, BEST_DIR, BEST_FILE), 'utf8').catch(() => '');
  if (text === '') return undefined;
  const b = JSON.parse(text) as Partial<BestValidation>;
  return typeof b.step === 'number' && typeof b.bitsPerByte === 'number'
    ? { step: b.step, bitsPerByte: b.bitsPerByte }
    : undefined;
}

async function prepareOutDir(outDir: string, resume: boolean): Promise<string | undefined> {
  const ckptDir = await findCheckpoint(outDir);
  if (resume) {
    if (!ckptDir) {
      throw new ModelError(
        'io',
        `${outDir}: no checkpoint to resume (run without --resume to start)`,
      );
    }
    return ckptDir;
  }
  if (ckptDir) {
    throw new ModelError(
      'invalid-argument',
      `${outDir} already holds a training checkpoint; pass --resume to continue it or choose another --out`,
    );
  }
  if (await fs.stat(path.join(outDir, WEIGHTS_FILE)).catch(() => undefined)) {
    throw new ModelError(
      'invalid-argument',
      `${outDir} already holds a model; choose another --out`,
    );
  }
  return undefined;
}

/** The parts of a tokenizer file that give token ids their meaning (not the profile). */
function vocabularyOf(tokenizerJson: unknown): string {
  const t = (tokenizerJson ?? {}) as Record<string, unknown>;
  return JSON.stringify([t.byteTokens, t.specialTokens, t.classTokens, t.merges, t.sequence]);
}

/** The weights of model directory `dir`, checked against the run's shape and vocabulary. */
async function initialWeights(
  dir: string,
  modelConfig: LlamaConfig,
  dataTokenizerJson: unknown,
): Promise<LlamaWeights> {
  const model = await loadModelDir(dir);
  // Named as in config.json (snake_case), as the resume check names them.
  const theirs = llamaConfigToJson(model.config);
  const ours = llamaConfigToJson(modelConfig);
  const mismatch = SHAPE_FIELDS.find((k) => theirs[k] !== ours[k]);
  if (mismatch !== undefined) {
    throw new ModelError(
      'invalid-argument',
      `${dir}: ${mismatch} is ${String(theirs[mismatch])}, the training config's ` +
        `is ${String(ours[mismatch])}`,
    );
  }
  if (vocabularyOf(model.tokenizerJson) !== vocabularyOf(dataTokenizerJson)) {
    throw new ModelError(
      'invalid-argument',
      `${dir}: its tokenizer's vocabulary (byte, special or class tokens) differs from the data's`,
    );
  }
  return model.weights;
}

/** The config fields that fix the weights' shapes and meaning. */
const SHAPE_FIELDS = [
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'tie_word_embeddings',
] as const;

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, outDir } = options;
  if (options.init !== undefined && options.resume) {
    throw new ModelError(
      'invalid-argument',
      'init starts a new run from a model; resume continues a checkpoint: choose one',
    );
  }
  const resumeDir = await prepareOutDir(outDir, options.resume ?? false);
  const schedule: LrSchedule = {
    peak: config.lr,
    floor: config.minLr,
    warmupSteps: config.warmupSteps,
    totalSteps: config.steps,
  };
  checkSchedule(schedule);
  const data = await openTrainingData(options.dataDir);
  let session: TrainingSession | undefined;
  const log = new EventLog(path.join(outDir, TRAIN_LOG_FILE));
  try {
    const tok = data.tokenizer;
    const modelConfig = modelConfigFor(config, {
      vocabSize: tok.vocabSize,
      bos: tok.bos,
      eos: tok.eos,
      pad: tok.pad,
    });
    let progress = {
      step: 0,
      position: { epoch: 0, cursor: 0 },
      tokensSeen: 0,
      elapsedSeconds: 0,
    };
    let state: OptimizerState;
    if (resumeDir) {
      const ckpt = await loadCheckpoint(resumeDir);
      checkResumable(resumeDir, ckpt, config, modelConfig, data.fingerprint);
      progress = { ...ckpt.progress };
      state = ckpt.optimizer;
    } else {
      const w =
        options.init !== undefined
          ? await initialWeights(options.init, modelConfig, JSON.parse(data.tokenizerText))
          : createRandomWeights(modelConfig, config.seed, { std: config.initStd });
      const zeros = (): Map<string, Float32Array> =>
        new Map([...w].map(([n, t]) => [n, new Float32Array(t.data.length)]));
      state = { weights: new Map([...w].map(([n, t]) => [n, t.data])), m: zeros(), v: zeros() };
    }
    const loader = new BatchLoader(
      data.train,
      {
        batchSize: config.batchSize,
        seqLen: config.seqLen,
        classDropout: config.classDropout,
        seed: config.seed,
      },
      progress.position,
    );
    session = await TrainingSession.create(modelConfig, state, {
      adamw: {
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        weightDecay: config.weightDecay,
        maxGradNorm: config.gradClip,
      },
      gradAccum: config.gradAccum,
      decay: decayed,
      ...(config.threads !== undefined ? { threads: config.threads } : {}),
    });
    await fs.mkdir(outDir, { recursive: true });
    const emit = async (e: TrainEvent): Promise<void> => {
      options.onEvent?.(e);
      await log.write(e);
    };
    const tokensPerStep = config.batchSize * config.seqLen * config.gradAccum;
    const valData =
      data.val && windowCount(data.val.length, config.seqLen) > 0 ? data.val : undefined;
    await emit({
      kind: 'start',
      resumed: resumeDir !== undefined,
      ...(options.init !== undefined && !resumeDir ? { initialisedFrom: options.init } : {}),
      step: progress.step,
      steps: config.steps,
      parameters: parameterCount(modelConfig),
      trainTokens: data.train.length,
      valTokens: data.val?.length ?? 0,
      validation: valData !== undefined,
      tokensPerStep,
    });
    if (!resumeDir) {
      await fs.writeFile(
        path.join(outDir, 'train-config.json'),
        JSON.stringify(trainConfigToJson(config), null, 2) + '\n',
      );
    }

    /** The current weights as a model directory (the output folder itself, or best/). */
    const saveModel = (dir: string): Promise<void> =>
      saveModelDir(dir, {
        config: modelConfig,
        weights: session!.weights(),
        tokenizerJson: data.tokenizerText,
      });
    let lastLoss: number | undefined;
    let lastBpb: number | undefined;
    // The weights of the best validation are kept apart: training past the point where held-out
    // loss turns up (a small dataset, many epochs) must not lose them.
    let best = resumeDir ? await readBest(outDir) : undefined;
    const runValidation = async (): Promise<void> => {
      if (!valData) return;
      const v = await validate(
        session!,
        validationBatches(valData, {
          batchSize: config.batchSize,
          seqLen: config.seqLen,
          maxBatches: config.valBatches,
        }),
        data.tokenBytes,
      );
      lastBpb = v.bitsPerByte;
      await emit({ kind: 'validation', step: progress.step, ...v });
      if (best !== undefined && v.bitsPerByte >= best.bitsPerByte) return;
      best = { step: progress.step, bitsPerByte: v.bitsPerByte };
      const dir = path.join(outDir, BEST_DIR);
      await saveModel(dir);
      await writeFileAtomic(path.join(dir, BEST_FILE), JSON.stringify(best) + '\n');
      await emit({ kind: 'best', ...best, dir });
    };
    let checkpointedAt = -1;
    const checkpoint = async (): Promise<void> => {
      checkpointedAt = progress.step;
      await saveCheckpoint(outDir, {
        config,
        modelConfig,
        progress,
        optimizer: session!.state(),
        data: data.fingerprint,
      });
      await saveModel(outDir);
      await emit({ kind: 'checkpoint', step: progress.step, dir: outDir });
    };

    let windowStart = performance.now();
    let windowTokens = 0;
    let stepSeconds = 0;
    let stepsTimed = 0;
    while (progress.step < config.steps) {
      if (options.signal?.aborted) break;
      const t0 = performance.now();
      const micro: Batch[] = [];
      for (let k = 0; k < config.gradAccum; k++) micro.push(loader.next());
      const lr = learningRate(schedule, progress.step);
      const r = await session.step(micro, lr, progress.step + 1);
      if (!Number.isFinite(r.loss)) {
        throw new ModelError(
          'invalid-argument',
          `the loss is ${r.loss} at step ${progress.step + 1}: training diverged (lower lr, longer warmup)`,
        );
      }
      const dt = (performance.now() - t0) / 1000;
      stepSeconds += dt;
      stepsTimed++;
      windowTokens += tokensPerStep;
      lastLoss = r.loss;
      progress = {
        step: progress.step + 1,
        position: loader.position,
        tokensSeen: progress.tokensSeen + tokensPerStep,
        elapsedSeconds: progress.elapsedSeconds + dt,
      };
      const last = progress.step === config.steps;
      if (progress.step % config.logEvery === 0 || last || progress.step === 1) {
        const now = performance.now();
        await emit({
          kind: 'step',
          step: progress.step,
          steps: config.steps,
          loss: r.loss,
          lr,
          gradNorm: r.gradNorm,
          epoch: progress.position.epoch,
          tokensPerSecond: windowTokens / Math.max((now - windowStart) / 1000, 1e-9),
          elapsedSeconds: progress.elapsedSeconds,
          etaSeconds: (stepSeconds / stepsTimed) * (config.steps - progress.step),
        });
        windowTokens = 0;
        windowStart = now;
      }
      const periodic = (every: number): boolean => every > 0 && progress.step % every === 0;
      if (periodic(config.valEvery) || last) await runValidation();
      if ((periodic(config.checkpointEvery) || last) && !options.signal?.aborted) {
        await checkpoint();
      }
      // Validation and checkpoints do not count towards training throughput.
      if (periodic(config.valEvery) || periodic(config.checkpointEvery)) {
        windowStart = performance.now();
        windowTokens = 0;
      }
    }
    const interrupted = progress.step < config.steps;
    if (interrupted && checkpointedAt !== progress.step) await checkpoint();
    await emit({ kind: interrupted ? 'interrupted' : 'done', step: progress.step });
    return { step: progress.step, interrupted, lastLoss, lastBitsPerByte: lastBpb };
  } finally {
    await session?.dispose();
    data.close();
    await log.close();
  }
}

/** Appends events to the JSONL log, one line each, with a timestamp. */
class EventLog {
  private handle: FileHandle | undefined;

  constructor(private readonly file: string) {}

  async write(e: TrainEvent): Promise<void> {
    if (!this.handle) {
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      this.handle = await fs.open(this.file, 'a');
    }
    await this.handle.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
