import { describe, expect, it } from 'vitest';
import {
  GreedySampler,
  MultinomialSampler,
  argmax,
  createSampling,
  sampleCategorical,
  validateSamplingOptions,
} from '../src/samplers.js';

const NEG = -Infinity;
const row = (values: number[]): Float32Array => Float32Array.from(values);

describe('greedy', () => {
  it('picks the highest logit, ties to the lower id', () => {
    expect(argmax(row([1, 5, 5, 2]))).toBe(1);
    expect(new GreedySampler().pick(row([NEG, NEG, -3]))).toBe(2);
  });
  it('refuses a row with nothing possible', () => {
    expect(() => argmax(row([NEG, NEG]))).toThrow(/no token left/);
  });
});

describe('sampleCategorical (inversion in id order)', () => {
  // Probabilities 0.25, 0.25, 0.5.
  const r = row([0, 0, Math.log(2)]);
  it('maps the uniform deviate onto cumulative probabilities', () => {
    expect(sampleCategorical(r, 0)).toBe(0);
    expect(sampleCategorical(r, 0.2)).toBe(0);
    expect(sampleCategorical(r, 0.3)).toBe(1);
    expect(sampleCategorical(r, 0.6)).toBe(2);
    expect(sampleCategorical(r, 0.999999)).toBe(2);
  });
  it('never picks a masked token, even at the extremes', () => {
    const m = row([NEG, 0, NEG, 0, NEG]);
    expect(sampleCategorical(m, 0)).toBe(1);
    expect(sampleCategorical(m, 0.5)).toBe(3);
    expect(sampleCategorical(m, 1 - 2 ** -53)).toBe(3);
    expect(() => sampleCategorical(row([NEG]), 0.5)).toThrow(/no token left/);
  });
});

describe('MultinomialSampler', () => {
  const probs = [0.1, 0.2, 0.7];
  const r = row(probs.map(Math.log));
  it('draws with the right frequencies', () => {
    const s = new MultinomialSampler(7);
    const counts = [0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[s.pick(r, 0)]++;
    // Binomial standard deviation is at most ~0.0033 of n here: allow 4 sigma.
    probs.forEach((p, k) => expect(Math.abs(counts[k] / n - p)).toBeLessThan(0.014));
  });
  it('is reproducible per seed and differs across seeds', () => {
    const draw = (seed: number): number[] => {
      const s = new MultinomialSampler(seed);
      return Array.from({ length: 200 }, () => s.pick(r, 0));
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });
  it('gives each sequence its own stream, whatever runs beside it', () => {
    const alone = new MultinomialSampler(3);
    const a = Array.from({ length: 100 }, () => alone.pick(r, 1));
    const mixed = new MultinomialSampler(3);
    const b: number[] = [];
    for (let i = 0; i < 100; i++) {
      mixed.pick(r, 0);
      b.push(mixed.pick(r, 1));
      mixed.pick(r, 5);
    }
    expect(b).toEqual(a);
  });
});

describe('createSampling', () => {
  it('composes warpers in the Hugging Face order and samples', () => {
    const s = createSampling({ temperature: 0.8, topK: 40, topP: 0.9, minP: 0.05, seed: 1 });
    expect(s.processors.map((p) => p.name)).toEqual(['temperature', 'top-k', 'top-p', 'min-p']);
    expect(s.sampler).toBeInstanceOf(MultinomialSampler);
  });
  it('leaves out warpers that would do nothing', () => {
    expect(createSampling({ temperature: 1, topK: 0, topP: 1, minP: 0 }).processors).toEqual([]);
  });
  it('is greedy at temperature 0', () => {
    const s = createSampling({ temperature: 0, topK: 5 });
    expect(s.processors).toEqual([]);
    expect(s.sampler).toBeInstanceOf(GreedySampler);
  });
  it('refuses absurd options with a message naming the option', () => {
    const cases: [object, RegExp][] = [
      [{ temperature: -1 }, /temperature must be a number >= 0/],
      [{ temperature: Number.NaN }, /temperature/],
      [{ topK: -1 }, /top-k must be an integer >= 0/],
      [{ topK: 2.5 }, /top-k/],
      [{ topP: 0 }, /top-p must be a number in \(0, 1\]/],
      [{ topP: 1.5 }, /top-p/],
      [{ minP: 2 }, /min-p/],
      [{ seed: -3 }, /seed must be an integer/],
    ];
    for (const [o, re] of cases) {
      expect(() => validateSamplingOptions(o)).toThrow(re);
      expect(() => createSampling(o)).toThrow(re);
    }
  });
});
