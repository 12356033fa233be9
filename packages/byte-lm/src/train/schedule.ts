/**
 * Learning-rate schedule: linear warmup, then cosine decay to a floor (Loshchilov & Hutter 2017,
 * "SGDR", without restarts), as in GPT-style recipes:
 *
 *   step < warmup:            lr = peak * (step + 1) / warmup
 *   warmup <= step < total:   lr = floor + (peak - floor) * (1 + cos(pi * progress)) / 2,
 *                             progress = (step - warmup) / (total - warmup)
 *   step >= total:            lr = floor
 *
 * `step` counts optimizer updates from 0.
 */

import { ModelError } from '../model-error.js';

export interface LrSchedule {
  readonly peak: number;
  readonly floor: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
}

export function checkSchedule(s: LrSchedule): void {
  if (!(s.peak > 0 && Number.isFinite(s.peak))) {
    throw new ModelError('invalid-argument', `learning rate must be > 0, got ${s.peak}`);
  }
  if (!(s.floor >= 0 && s.floor <= s.peak)) {
    throw new ModelError(
      'invalid-argument',
      `minimum learning rate must lie in [0, ${s.peak}], got ${s.floor}`,
    );
  }
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0) {
    throw new ModelError('invalid-argument', `warmup steps must be an integer >= 0`);
  }
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 1) {
    throw new ModelError('invalid-argument', `total steps must be an integer >= 1`);
  }
}

export function learningRate(s: LrSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.peak * (step + 1)) / s.warmupSteps;
  if (step >= s.totalSteps) return s.floor;
  const span = s.totalSteps - s.warmupSteps;
  const progress = span > 0 ? (step - s.warmupSteps) / span : 1;
  return s.floor + ((s.peak - s.floor) * (1 + Math.cos(Math.PI * progress))) / 2;
}
