/**
 * Training graphs for ONNX Runtime. Each is the inference graph of llama-graph.ts (standard
 * flavour, no KV cache, weights as inputs: the one definition of the architecture), reopened and
 * extended with:
 *
 * - `loss`: token cross-entropy. With targets t (int64, IGNORE_INDEX = not scored) and
 *   `loss_scale` s: token_nll[b, i] = -log softmax(logits[b, i])[t[b, i]] (0 where ignored) and
 *   loss = s * sum(token_nll). The trainer passes s = 1 / (scored targets in the whole
 *   accumulated batch), so the loss is the mean over scored targets (PyTorch's
 *   cross_entropy(ignore_index=-100, reduction='mean')) even when split into micro-batches.
 * - `gradients`: loss and its gradient with respect to every weight (autodiff.ts), added to
 *   accumulator inputs when accumulating micro-batches.
 * - `step`: loss, gradients, global gradient-norm clipping and one AdamW update (Loshchilov &
 *   Hutter 2019, decoupled weight decay), written as PyTorch's torch.optim.AdamW computes it:
 *     p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *     p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   with g scaled by min(1, max_norm / (||g|| + 1e-6)) first (torch.nn.utils.clip_grad_norm_).
 *
 * Every state tensor X (a weight, adam_m.W, adam_v.W, grad_acc.W) is an input, and its new value
 * the output `updated.X`, so the caller feeds the outputs of one step as the inputs of the next.
 */

import type { LlamaConfig } from '../config.js';
import { DIM, buildLlamaGraph } from '../llama-graph.js';
import { ModelError } from '../model-error.js';
import { attr, type Graph, type Value } from '../onnx/ir.js';
import { EMBED_TOKENS, expectedWeightShapes } from '../weights.js';
import { backward } from './autodiff.js';
import { reopenGraph } from './graph-edit.js';

/** Targets equal to this are not scored (PyTorch's default ignore_index). */
export const IGNORE_INDEX = -100;

/** Names of the training graphs' inputs and outputs. */
export const TRAIN_IO = {
  inputIds: 'input_ids',
  positionIds: 'position_ids',
  targets: 'targets',
  lossScale: 'loss_scale',
  lr: 'lr',
  /** AdamW step number t (1-based), for the bias corrections. */
  step: 'step',
  loss: 'loss',
  tokenNll: 'token_nll',
  gradNorm: 'grad_norm',
  adamM: (w: string): string => `adam_m.${w}`,
  adamV: (w: string): string => `adam_v.${w}`,
  gradAcc: (w: string): string => `grad_acc.${w}`,
  updated: (state: string): string => `updated.${state}`,
} as const;

export interface AdamWSettings {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Global gradient-norm clipping threshold; 0 = no clipping. */
  readonly maxGradNorm: number;
}

export const DEFAULT_ADAMW: AdamWSettings = {
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  maxGradNorm: 1,
};

export type TrainGraphKind = 'loss' | 'gradients' | 'step';

export interface TrainGraphOptions {
  readonly kind: TrainGraphKind;
  /** gradients/step: take accumulated gradients (grad_acc.W) to add this micro-batch's to. */
  readonly accumulate?: boolean;
  readonly adamw?: AdamWSettings;
  /** Which weights get weight decay; default: `decayed` below. */
  readonly decay?: (name: string, shape: readonly number[]) => boolean;
}

/**
 * Default weight-decay choice: the projection matrices (and an untied LM head) decay; RMSNorm
 * gains and the token embedding do not (as in GPT-2/nanoGPT-style recipes: decaying a gain pulls
 * it towards 0, not towards its neutral value 1, and embedding rows of rare tokens would shrink
 * between their rare updates).
 */
export function decayed(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && name !== EMBED_TOKENS;
}

export interface TrainGraph {
  readonly graph: Graph;
  /** Trainable weights (HF names and shapes), in checkpoint order: the graph's weight inputs. */
  readonly weights: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly kind: TrainGraphKind;
  readonly accumulate: boolean;
}

function checkAdamW(a: AdamWSettings): void {
  const inOpen01 = (v: number): boolean => v >= 0 && v < 1;
  if (!inOpen01(a.beta1) || !inOpen01(a.beta2)) {
    throw new ModelError('invalid-argument', 'AdamW betas must lie in [0, 1)');
  }
  if (!(a.eps > 0) || !(a.weightDecay >= 0) || !(a.maxGradNorm >= 0)) {
    throw new ModelError(
      'invalid-argument',
      'AdamW eps must be > 0, weight decay and max grad norm >= 0',
    );
  }
}

export function buildTrainGraph(config: LlamaConfig, options: TrainGraphOptions): TrainGraph {
  const adamw = options.adamw ?? DEFAULT_ADAMW;
  checkAdamW(adamw);
  const accumulate = options.accumulate ?? false;
  if (accumulate && options.kind === 'loss') {
    throw new ModelError('invalid-argument', 'a loss graph has no gradients to accumulate');
  }
  const decay = options.decay ?? decayed;
  const forward = buildLlamaGraph(config, undefined, {
    cache: 'none',
    weights: 'inputs',
    attentionMask: false,
  }).graph;
  const { g, value } = reopenGraph(forward, `llama_${options.kind}`);
  const shapes = expectedWeightShapes(config);
  const weights = [...shapes].map(([name, shape]) => ({ name, shape }));
  const params = weights.map((w) => value(w.name));

  // Cross-entropy over the scored targets.
  const logits = value('logits');
  const targets = g.input(TRAIN_IO.targets, 'int64', [DIM.batch, DIM.seq]);
  const lossScale = g.input(TRAIN_IO.lossScale, 'float32', []);
  const tokenNll = g.scope('loss', () => {
    const logp = g.op('LogSoftmax', [logits], { axis: attr.int(-1) }, [
      { dtype: 'float32', shape: logits.shape },
    ])[0];
    const scored = g.op('Not', [g.equal(targets, g.constant('int64', [], [IGNORE_INDEX]))], {}, [
      { dtype: 'bool', shape: targets.shape },
    ])[0];
    const safeTargets = g.where(scored, targets, g.constant('int64', [], [0]));
    const picked = g.op(
      'GatherElements',
      [logp, g.unsqueeze(safeTargets, [-1])],
      { axis: attr.int(-1) },
      [{ dtype: 'float32', shape: [DIM.batch, DIM.seq, 1] }],
    )[0];
    const nll = g.neg(g.reshape(picked, [0, 0]));
    return g.where(scored, nll, g.scalar(0));
  });
  const loss = g.scope('loss', () =>
    g.mul(
      g.op('ReduceSum', [tokenNll], { keepdims: attr.int(0) }, [
        { dtype: 'float32', shape: [] },
      ])[0],
      lossScale,
      TRAIN_IO.loss,
    ),
  );
  g.output(loss);
  if (options.kind === 'loss') {
    g.output(g.identity(tokenNll, TRAIN_IO.tokenNll));
    return { graph: g.build(), weights, kind: options.kind, accumulate };
  }

  const grads = backward(g, g.build(), loss, params);
  let total: Value[] = params.map((p) => grads.get(p.name)!);
  if (accumulate) {
    total = g.scope('accumulate', () =>
      params.map((p, i) =>
        g.add(g.input(TRAIN_IO.gradAcc(p.name), 'float32', p.shape ?? []), total[i]),
      ),
    );
  }
  if (options.kind === 'gradients') {
    // Identity here is cheap next to a forward and backward pass.
    params.forEach((p, i) => g.output(total[i], TRAIN_IO.updated(TRAIN_IO.gradAcc(p.name))));
    return { graph: g.build(), weights, kind: options.kind, accumulate };
  }

  // Global gradient norm and clipping.
  const gradNorm = g.scope('clip', () => {
    const squares = total.map(
      (t) =>
        g.op('ReduceSumSquare', [t], { keepdims: attr.int(0) }, [
          { dtype: 'float32', shape: [] },
        ])[0],
    );
    const sum =
      squares.length === 1
        ? squares[0]
        : g.op('Sum', squares, {}, [{ dtype: 'float32', shape: [] }])[0];
    return g.sqrt(sum);
  });
  g.output(g.identity(gradNorm, TRAIN_IO.gradNorm));
  if (adamw.maxGradNorm > 0) {
    total = g.scope('clip', () => {
      const ratio = g.div(g.scalar(adamw.maxGradNorm), g.add(gradNorm, g.scalar(1e-6)));
      const coef = g.op('Min', [ratio, g.scalar(1)], {}, [{ dtype: 'float32', shape: [] }])[0];
      return total.map((t) => g.mul(t, coef));
    });
  }

  // AdamW.
  g.scope('adamw', () => {
    const lr = g.input(TRAIN_IO.lr, 'float32', []);
    const t = g.input(TRAIN_IO.step, 'float32', []);
    const one = g.scalar(1);
    const bc1 = g.sub(one, g.pow(g.scalar(adamw.beta1), t));
    const bc2 = g.sub(one, g.pow(g.scalar(adamw.beta2), t));
    const stepSize = g.div(lr, bc1);
    const invSqrtBc2 = g.reciprocal(g.sqrt(bc2));
    const shrink = g.sub(one, g.mul(lr, g.scalar(adamw.weightDecay)));
    params.forEach((p, i) => {
      const grad = total[i];
      const m = g.input(TRAIN_IO.adamM(p.name), 'float32', p.shape ?? []);
      const v = g.input(TRAIN_IO.adamV(p.name), 'float32', p.shape ?? []);
      // The last node of each update writes the output name directly (no Identity copy).
      const m2 = g.add(
        g.mul(m, g.scalar(adamw.beta1)),
        g.mul(grad, g.scalar(1 - adamw.beta1)),
        TRAIN_IO.updated(m.name),
      );
      const v2 = g.add(
        g.mul(v, g.scalar(adamw.beta2)),
        g.mul(g.mul(grad, grad), g.scalar(1 - adamw.beta2)),
        TRAIN_IO.updated(v.name),
      );
      const denom = g.add(g.mul(g.sqrt(v2), invSqrtBc2), g.scalar(adamw.eps));
      const base =
        adamw.weightDecay > 0 && decay(p.name, p.shape as number[]) ? g.mul(p, shrink) : p;
      const p2 = g.op('Sub', [base, g.mul(g.div(m2, denom), stepSize)], {}, [
        { dtype: 'float32', shape: p.shape, name: TRAIN_IO.updated(p.name) },
      ])[0];
      g.output(p2);
      g.output(m2);
      g.output(v2);
    });
  });
  return { graph: g.build(), weights, kind: options.kind, accumulate };
}
