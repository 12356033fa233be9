/**
 * Samplers: turn one processed row of logits into a token. Sampling options compose as a list of
 * logits processors (temperature, top-k, top-p, min-p, in the Hugging Face order) followed by a
 * final pick, greedy or multinomial with a seeded PRNG.
 */
import { CodecError } from '@jpeglm/codec-tokenizer';
import {
  MinPProcessor,
  TemperatureProcessor,
  TopKProcessor,
  TopPProcessor,
  type LogitsProcessor,
} from './logits-processors.js';
import { Xoshiro128 } from './prng.js';

/** Picks the next token of `sequence` from its processed logits. */
export interface TokenSampler {
  pick(logits: Float32Array, sequence: number): number;
}

function noTokenLeft(): CodecError {
  return new CodecError(
    'invalid-argument',
    'no token left to sample: every logit was masked out (conflicting constraints?)',
  );
}

/** The highest logit; ties go to the lower token id. */
export function argmax(logits: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > bestValue) {
      bestValue = logits[i];
      best = i;
    }
  }
  if (best < 0) throw noTokenLeft();
  return best;
}

export class GreedySampler implements TokenSampler {
  pick(logits: Float32Array): number {
    return argmax(logits);
  }
}

/**
 * Draw from softmax(logits) by inversion: u uniform in [0, 1) scaled by the (unnormalised) sum,
 * then the first token, in id order, whose cumulative weight exceeds it. Each sequence has its
 * own PRNG stream (see prng.ts), created on first use.
 */
export class MultinomialSampler implements TokenSampler {
  private readonly streams = new Map<number, Xoshiro128>();
  constructor(readonly seed: number) {
    new Xoshiro128(seed); // validates the seed now rather than at the first token
  }

  pick(logits: Float32Array, sequence: number): number {
    let rng = this.streams.get(sequence);
    if (rng === undefined) {
      rng = new Xoshiro128(this.seed, sequence);
      this.streams.set(sequence, rng);
    }
    return sampleCategorical(logits, rng.nextFloat());
  }
}

/** The token at uniform deviate `u` in [0, 1) of softmax(logits) (inversion, id order). */
export function sampleCategorical(logits: Float32Array, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) throw noTokenLeft();
  const weights = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const w = logits[i] === -Infinity ? 0 : Math.exp(logits[i] - max);
    weights[i] = w;
    sum += w;
  }
  const target = u * sum;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue;
    cumulative += weights[i];
    last = i;
    if (cumulative > target) return i;
  }
  return last; // rounding left `target` at the very top: the last possible token
}

export interface SamplingOptions {
  /** 0 = greedy; default 1. */
  readonly temperature?: number;
  /** Keep the k most likely tokens; 0 (default) = off. */
  readonly topK?: number;
  /** Nucleus mass in (0, 1]; 1 (default) = off. */
  readonly topP?: number;
  /** Relative probability floor in [0, 1]; 0 (default) = off. */
  readonly minP?: number;
  /** PRNG seed, integer 0 .. 2^32 - 1; default 0. */
  readonly seed?: number;
}

export interface Sampling {
  /** The warpers to run after any masks, in order. */
  readonly processors: LogitsProcessor[];
  readonly sampler: TokenSampler;
}

/** Check sampling options; throws CodecError('invalid-argument') naming the first bad one. */
export function validateSamplingOptions(o: SamplingOptions): void {
  const t = o.temperature ?? 1;
  if (!(Number.isFinite(t) && t >= 0)) {
    throw new CodecError('invalid-argument', `temperature must be a number >= 0, got ${t}`);
  }
  new TopKProcessor(o.topK ?? 0);
  new TopPProcessor(o.topP ?? 1);
  new MinPProcessor(o.minP ?? 0);
  new Xoshiro128(o.seed ?? 0);
}

/**
 * Build the warpers and the final pick for `options`. Temperature 0 means greedy decoding
 * (top-k/top-p/min-p never remove the most likely token, so they are left out).
 */
export function createSampling(options: SamplingOptions = {}): Sampling {
  validateSamplingOptions(options);
  const t = options.temperature ?? 1;
  if (t === 0) return { processors: [], sampler: new GreedySampler() };
  const processors: LogitsProcessor[] = [];
  if (t !== 1) processors.push(new TemperatureProcessor(t));
  if ((options.topK ?? 0) > 0) processors.push(new TopKProcessor(options.topK ?? 0));
  if ((options.topP ?? 1) < 1) processors.push(new TopPProcessor(options.topP ?? 1));
  if ((options.minP ?? 0) > 0) processors.push(new MinPProcessor(options.minP ?? 0));
  return { processors, sampler: new MultinomialSampler(options.seed ?? 0) };
}
