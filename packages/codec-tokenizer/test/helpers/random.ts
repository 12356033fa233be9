import { mulberry32 } from '../fixtures/images.js';

/** Seeded uniform numbers in [0, 1) (mulberry32), so property tests and corpora replay exactly. */
export function uniformPrng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}
