/**
 * The training graphs on ONNX Runtime (CPU), with the optimizer state kept in two sets of
 * preallocated buffers. A step feeds set A (weights, AdamW m and v) and binds set B as the
 * preallocated `updated.*` outputs, so ORT writes the new state straight into B; the sets then
 * swap. No state is copied or reallocated between steps, and JavaScript never touches it.
 */

import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { LlamaConfig } from '../config.js';
import { ModelError } from '../model-error.js';
import { serializeGraph } from '../onnx/serialize.js';
import { expectedWeightShapes, type FloatTensor, type LlamaWeights } from '../weights.js';
import type { Batch } from './data.js';
import {
  TRAIN_IO,
  buildTrainGraph,
  type AdamWSettings,
  type TrainGraphKind,
} from './train-graph.js';

export interface TrainingSessionOptions {
  readonly adamw: AdamWSettings;
  /** Micro-batches per optimizer step (gradient accumulation); default 1. */
  readonly gradAccum?: number;
  /** ORT intra-op threads; default: the CPUs available to this process. */
  readonly threads?: number;
  readonly decay?: (name: string, shape: readonly number[]) => boolean;
}

/** Optimizer state: weights and AdamW moments, by weight name. */
export interface OptimizerState {
  readonly weights: ReadonlyMap<string, Float32Array>;
  readonly m: ReadonlyMap<string, Float32Array>;
  readonly v: ReadonlyMap<string, Float32Array>;
}

interface StateSet {
  /** Graph input name -> tensor (weights, adam_m.*, adam_v.*). */
  readonly tensors: Record<string, ort.Tensor>;
}

export interface StepResult {
  /** Mean loss over the scored targets of all micro-batches. */
  readonly loss: number;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
}

function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

const scalar = (v: number): ort.Tensor => new ort.Tensor('float32', Float32Array.of(v), []);

export class TrainingSession {
  private current: StateSet;
  private spare: StateSet;
  private gradA: Record<string, ort.Tensor> | undefined;
  private gradB: Record<string, ort.Tensor> | undefined;
  private lossSession: ort.InferenceSession | undefined;
  private disposed = false;

  private constructor(
    readonly config: LlamaConfig,
    readonly weightShapes: readonly { readonly name: string; readonly shape: readonly number[] }[],
    readonly gradAccum: number,
    private readonly threads: number,
    private readonly stepSession: ort.InferenceSession,
    private readonly gradSession: ort.InferenceSession | undefined,
    state: OptimizerState,
  ) {
    this.current = this.makeSet(state);
    this.spare = this.makeSet(undefined);
    if (gradAccum > 1) {
      this.gradA = this.makeGrads();
      this.gradB = this.makeGrads();
    }
  }

  /** Build the graphs and open the sessions; `state` is copied into the session's buffers. */
  static async create(
    config: LlamaConfig,
    state: OptimizerState,
    options: TrainingSessionOptions,
  ): Promise<TrainingSession> {
    const accum = options.gradAccum ?? 1;
    if (!Number.isInteger(accum) || accum < 1) {
      throw new ModelError('invalid-argument', `gradient accumulation must be an integer >= 1`);
    }
    const threads = options.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new ModelError(
        'invalid-argument',
        `threads must be a positive integer, got ${threads}`,
      );
    }
    const open = async (kind: TrainGraphKind, accumulate: boolean): Promise<ort.InferenceSession> =>
      ort.InferenceSession.create(
        serializeGraph(
          buildTrainGraph(config, { kind, accumulate, adamw: options.adamw, decay: options.decay })
            .graph,
        ),
        sessionOptions(threads),
      );
    const step = await open('step', accum > 1);
    const grad = accum > 1 ? await open('gradients', true) : undefined;
    const shapes = [...expectedWeightShapes(config)].map(([name, shape]) => ({ name, shape }));
    return new TrainingSession(config, shapes, accum, threads, step, grad, state);
  }

  private makeSet(state: OptimizerState | undefined): StateSet {
    const tensors: Record<string, ort.Tensor> = {};
    for (const { name, shape } of this.weightShapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      const copy = (src: ReadonlyMap<string, Float32Array> | undefined): Float32Array => {
        const data = src?.get(name);
        if (src && (!data || data.length !== n)) {
          throw new ModelError('corrupt', `optimizer state lacks ${name} or has the wrong size`);
        }
        return data ? Float32Array.from(data) : new Float32Array(n);
      };
      tensors[name] = new ort.Tensor('float32', copy(state?.weights), [...shape]);
      tensors[TRAIN_IO.adamM(name)] = new ort.Tensor('float32', copy(state?.m), [...shape]);
      tensors[TRAIN_IO.adamV(name)] = new ort.Tensor('float32', copy(state?.v), [...shape]);
    }
    return { tensors };
  }

  private makeGrads(): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const { name, shape } of this.weightShapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      out[TRAIN_IO.gradAcc(name)] = new ort.Tensor('float32', new Float32Array(n), [...shape]);
    }
    return out;
  }

  private batchFeeds(b: Batch, lossScale: number): Record<string, ort.Tensor> {
    const dims = [b.rows, b.seqLen];
    return {
      [TRAIN_IO.inputIds]: new ort.Tensor('int64', b.inputIds, dims),
      [TRAIN_IO.positionIds]: new ort.Tensor('int64', b.positionIds, dims),
      [TRAIN_IO.targets]: new ort.Tensor('int64', b.targets, dims),
      [TRAIN_IO.lossScale]: scalar(lossScale),
    };
  }

  private weightFeeds(): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const { name } of this.weightShapes) out[name] = this.current.tensors[name];
    return out;
  }

  /**
   * One optimizer step over `micro` (gradAccum micro-batches): the loss is the mean over every
   * scored target of all of them. `stepNumber` is the 1-based AdamW step t.
   */
  async step(micro: readonly Batch[], lr: number, stepNumber: number): Promise<StepResult> {
    this.assertOpen();
    if (micro.length !== this.gradAccum) {
      throw new ModelError(
        'invalid-argument',
        `expected ${this.gradAccum} micro-batches, got ${micro.length}`,
      );
    }
    const scored = micro.reduce((a, b) => a + b.scored, 0);
    // No scored target at all (a batch of padding): the gradient is zero, the loss undefined.
    const scale = scored > 0 ? 1 / scored : 0;
    let loss = 0;
    let acc: Record<string, ort.Tensor> | undefined;
    for (let k = 0; k < micro.length - 1; k++) {
      const into = k % 2 === 0 ? this.gradA! : this.gradB!;
      const feeds: Record<string, ort.Tensor> = {
        ...this.batchFeeds(micro[k], scale),
        ...this.weightFeeds(),
      };
      if (acc === undefined) {
        // First micro-batch: accumulate onto zeros.
        for (const t of Object.values(this.gradB!)) (t.data as Float32Array).fill(0);
        Object.assign(feeds, this.gradB!);
      } else {
        Object.assign(feeds, acc);
      }
      const fetches: Record<string, ort.Tensor | null> = { [TRAIN_IO.loss]: null };
      for (const [name, t] of Object.entries(into)) fetches[TRAIN_IO.updated(name)] = t;
      const out = await this.gradSession!.run(feeds, fetches);
      loss += (out[TRAIN_IO.loss].data as Float32Array)[0];
      acc = into;
    }
    const feeds: Record<string, ort.Tensor> = {
      ...this.batchFeeds(micro[micro.length - 1], scale),
      ...this.current.tensors,
      [TRAIN_IO.lr]: scalar(lr),
      [TRAIN_IO.step]: scalar(stepNumber),
    };
    if (acc) Object.assign(feeds, acc);
    const fetches: Record<string, ort.Tensor | null> = {
      [TRAIN_IO.loss]: null,
      [TRAIN_IO.gradNorm]: null,
    };
    for (const [name, t] of Object.entries(this.spare.tensors)) {
      fetches[TRAIN_IO.updated(name)] = t;
    }
    const out = await this.stepSession.run(feeds, fetches);
    loss += (out[TRAIN_IO.loss].data as Float32Array)[0];
    [this.current, this.spare] = [this.spare, this.current];
    return { loss, gradNorm: (out[TRAIN_IO.gradNorm].data as Float32Array)[0] };
  }

  /** Per-target negative log-likelihood (nats) of a batch, [rows * seqLen]; 0 where ignored. */
  async tokenNll(batch: Batch): Promise<Float32Array> {
    this.assertOpen();
    if (!this.lossSession) {
      this.lossSession = await ort.InferenceSession.create(
        serializeGraph(buildTrainGraph(this.config, { kind: 'loss' }).graph),
        sessionOptions(this.threads),
      );
    }
    const out = await this.lossSession.run(
      { ...this.batchFeeds(batch, 1), ...this.weightFeeds() },
      [TRAIN_IO.tokenNll],
    );
    return out[TRAIN_IO.tokenNll].data as Float32Array;
  }

  /** Copies of the current weights, HF names and shapes. */
  weights(): LlamaWeights {
    const out = new Map<string, FloatTensor>();
    for (const { name, shape } of this.weightShapes) {
      out.set(name, {
        shape: [...shape],
        data: Float32Array.from(this.current.tensors[name].data as Float32Array),
      });
    }
    return out;
  }

  /** Copies of weights and moments (for checkpoints). */
  state(): OptimizerState {
    const pick = (key: (n: string) => string): Map<string, Float32Array> =>
      new Map(
        this.weightShapes.map(({ name }) => [
          name,
          Float32Array.from(this.current.tensors[key(name)].data as Float32Array),
        ]),
      );
    return { weights: pick((n) => n), m: pick(TRAIN_IO.adamM), v: pick(TRAIN_IO.adamV) };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.stepSession.release();
    await this.gradSession?.release();
    await this.lossSession?.release();
  }

  private assertOpen(): void {
    if (this.disposed) throw new ModelError('invalid-argument', 'training session is disposed');
  }
}
