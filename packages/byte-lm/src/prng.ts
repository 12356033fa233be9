/**
 * A small, fast, seeded pseudo-random generator, so that sampling is reproducible: the same seed
 * and options give the same bytes on every run, on every machine (the arithmetic is pure 32-bit
 * integer, no platform-dependent floats).
 *
 * Algorithm: xoshiro128** 1.1 (D. Blackman and S. Vigna, "Scrambled linear pseudorandom number
 * generators", ACM TOMS 2021; reference C code at https://prng.di.unimi.it/xoshiro128starstar.c).
 * Period 2^128 - 1, 128 bits of state.
 *
 * Seeding: the four state words are four consecutive outputs of SplitMix32 (Weyl increment
 * 0x9E3779B9 followed by MurmurHash3's fmix32 finaliser with constants 0x85EBCA6B, 0xC2B2AE35),
 * started at `seed + 4 * stream * 0x9E3779B9 (mod 2^32)`. Stream s therefore takes SplitMix32
 * outputs 4s+1 .. 4s+4 of the same seed: different streams never share a state word, and since
 * fmix32 is a bijection the state is never all zero. Each generated sequence of a batch draws
 * from its own stream, so sequence i's bytes do not depend on how many others run beside it.
 */

import { CodecError } from '@jpeglm/codec-tokenizer';

const GOLDEN = 0x9e3779b9;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * @param seed an integer 0 .. 2^32 - 1
   * @param stream an integer 0 .. 2^32 - 1 selecting an independent stream of the same seed
   */
  constructor(seed: number, stream = 0) {
    assertUint32('seed', seed);
    assertUint32('stream', stream);
    let x = (seed + Math.imul(Math.imul(4, stream), GOLDEN)) >>> 0;
    const splitMix32 = (): number => {
      x = (x + GOLDEN) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitMix32();
    this.s1 = splitMix32();
    this.s2 = splitMix32();
    this.s3 = splitMix32();
  }

  /** A generator with the given raw state (for known-answer tests against the C reference). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Xoshiro128 {
    const g = new Xoshiro128(0);
    g.s0 = s0 >>> 0;
    g.s1 = s1 >>> 0;
    g.s2 = s2 >>> 0;
    g.s3 = s3 >>> 0;
    return g;
  }

  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * A double uniform in [0, 1) with 53 random bits: the top 27 bits of one output and the top
   * 26 of the next, as in the usual (a * 2^26 + b) / 2^53 construction.
   */
  nextFloat(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** An independent copy with the same state. */
  clone(): Xoshiro128 {
    return Xoshiro128.fromState(this.s0, this.s1, this.s2, this.s3);
  }
}

function assertUint32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new CodecError(
      'invalid-argument',
      `${name} must be an integer from 0 to 4294967295, got ${v}`,
    );
  }
}
