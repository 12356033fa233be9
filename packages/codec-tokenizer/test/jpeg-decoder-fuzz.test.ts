/**
 * Fuzzing the JPEG parser, decoder and validator with thousands of mutated files: the only
 * exception allowed is CodecError (and from validateJpeg only for a frame above the megapixel
 * limit), nothing hangs, and time grows linearly with the input even on inputs built to
 * stress resynchronisation.
 */
import { describe, expect, it } from 'vitest';
import { CodecError, decodeJpeg, parseJpegStructure, validateJpeg } from '../src/index.js';
import { gradientImage, lavfiImage, mulberry32, noiseImage } from './fixtures/images.js';
import { concat } from './helpers/bytes.js';
import { cjpegWith } from './helpers/peers.js';

/** Interesting bytes for JPEG: markers, stuffing, fill. */
const SPECIAL = [
  0x00, 0xff, 0xd0, 0xd3, 0xd7, 0xd8, 0xd9, 0xda, 0xc0, 0xc2, 0xc4, 0xdb, 0xdd, 0xe0, 0xfe, 0x01,
];

function mutate(src: Uint8Array, next: () => number, other: Uint8Array): Uint8Array {
  const pick = (n: number): number => next() % Math.max(1, n);
  let b: Uint8Array = src.slice();
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    const at = pick(b.length);
    switch (pick(10)) {
      case 0: // bit flip
        b[at] ^= 1 << pick(8);
        break;
      case 1: // random byte
        b[at] = pick(256);
        break;
      case 2: // special byte
        b[at] = SPECIAL[pick(SPECIAL.length)];
        break;
      case 3: // insert a marker-like pair
        b = concat(
          b.subarray(0, at),
          Uint8Array.of(0xff, SPECIAL[pick(SPECIAL.length)]),
          b.subarray(at),
        );
        break;
      case 4: // delete a run
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + pick(16))));
        break;
      case 5: // duplicate a run
        b = concat(b.subarray(0, at), b.subarray(at, at + 1 + pick(32)), b.subarray(at));
        break;
      case 6: // truncate
        b = b.subarray(0, at);
        break;
      case 7: // splice in part of another file
        b = concat(b.subarray(0, at), other.subarray(pick(other.length)));
        break;
      case 8: // big-endian 16-bit field (lengths, dimensions) set to an extreme
        if (at + 1 < b.length) {
          const v = [0, 1, 2, 0xffff, 0x7fff, 0x8000][pick(6)];
          b[at] = v >> 8;
          b[at + 1] = v & 255;
        }
        break;
      default: // garbage tail
        b = concat(
          b,
          Uint8Array.from({ length: pick(40) }, () => pick(256)),
        );
    }
  }
  return b;
}

/** Run f; it may only throw CodecError (with an offset inside the input, when given). */
function onlyCodecErrors(f: () => unknown, input: Uint8Array): CodecError | null {
  try {
    f();
    return null;
  } catch (e) {
    if (!(e instanceof CodecError)) throw new Error(`not a CodecError: ${String(e)}`, { cause: e });
    expect(e.message.length).toBeGreaterThan(10);
    if (e.offset !== undefined) expect(e.offset).toBeLessThanOrEqual(input.length);
    return e;
  }
}

describe('fuzz: mutated files', () => {
  const bases = [
    cjpegWith(gradientImage(24, 16), ['-quality', '50', '-sample', '2x2', '-restart', '1B']),
    cjpegWith(noiseImage(17, 9, 4), ['-quality', '90', '-sample', '1x1']),
    cjpegWith(lavfiImage('testsrc2', 32, 32), [
      '-quality',
      '25',
      '-sample',
      '2x2',
      '-restart',
      '1B',
      '-baseline',
    ]),
    cjpegWith(lavfiImage('mandelbrot', 40, 24), ['-grayscale', '-restart', '2']),
    cjpegWith(gradientImage(16, 16), ['-quality', '5']), // SOF1, 16-bit tables
    cjpegWith(gradientImage(16, 16), ['-progressive']),
    cjpegWith(noiseImage(9, 9, 1), ['-sample', '2x1', '-restart', '1']),
  ];

  it('parseJpegStructure, decodeJpeg and validateJpeg throw nothing but CodecError', () => {
    const next = mulberry32(31337);
    const options = { maxMegapixels: 1 };
    let valid = 0;
    let decoded = 0;
    const codes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const input = mutate(bases[i % bases.length], next, bases[(i * 7 + 3) % bases.length]);
      onlyCodecErrors(() => parseJpegStructure(input, options), input);
      const e = onlyCodecErrors(() => decodeJpeg(input, options), input);
      if (e === null) decoded++;
      else codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      const v = onlyCodecErrors(() => {
        const r = validateJpeg(input, options);
        expect(r.intactMcus + r.damagedMcus + r.missingMcus).toBe(r.mcuCount);
        for (const p of r.problems) expect(p.offset).toBeLessThanOrEqual(input.length);
        if (r.verdict === 'valid') valid++;
        // A stream the validator passes, the decoder decodes.
        if (r.verdict === 'valid' && r.structure?.colorSpace !== 'cmyk') {
          expect(() => decodeJpeg(input, options)).not.toThrow();
        }
      }, input);
      if (v !== null) expect(v.code).toBe('too-large');
    }
    // The mutations reach every layer: some inputs survive, and failures are of several kinds.
    expect(valid).toBeGreaterThan(50);
    expect(decoded).toBeGreaterThan(valid / 2);
    expect(codes.size).toBeGreaterThanOrEqual(4);
  });

  it('random bytes and tiny inputs', () => {
    const next = mulberry32(5);
    for (let i = 0; i < 1000; i++) {
      const n = next() % 64;
      const input = Uint8Array.from({ length: n }, () => next() & 255);
      if (i % 2 === 0 && n >= 2) {
        input[0] = 0xff;
        input[1] = 0xd8;
      }
      onlyCodecErrors(() => decodeJpeg(input), input);
      const r = validateJpeg(input);
      expect(r.verdict).not.toBe('valid');
    }
  });
});

describe('fuzz: time is linear in the input size', () => {
  const header = (restart: boolean): Uint8Array => {
    const jpeg = cjpegWith(gradientImage(2048, 1024), [
      '-quality',
      '50',
      '-sample',
      '2x2',
      ...(restart ? ['-restart', '1B'] : []),
    ]);
    return jpeg.subarray(0, parseJpegStructure(jpeg).headerEnd);
  };

  /** Scan data built to stress resynchronisation: markers with wrong numbers, bad markers. */
  const adversarial = (size: number, seed: number): Uint8Array => {
    const next = mulberry32(seed);
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i += 2) {
      const r = next() % 8;
      out[i] = r < 3 ? 0xff : next() & 0xfe;
      out[i + 1] = r === 0 ? 0xd0 + (next() % 8) : r === 1 ? 0x12 : r === 2 ? 0xff : next() & 255;
    }
    return out;
  };

  const minTime = (f: () => void): number => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      f();
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };

  it('validateJpeg on 40 kB and 320 kB of hostile scan data', () => {
    for (const restart of [true, false]) {
      const h = header(restart);
      const small = concat(h, adversarial(40_000, 1));
      const large = concat(h, adversarial(320_000, 2));
      validateJpeg(large); // warm up
      const ts = minTime(() => validateJpeg(small));
      const tl = minTime(() => validateJpeg(large));
      // 8x the input: linear is ~8x; quadratic would be ~64x. The margin absorbs timer noise.
      expect(tl / Math.max(ts, 0.05), `restart ${restart}: ${ts} ms vs ${tl} ms`).toBeLessThan(24);
      const r = validateJpeg(large);
      expect(r.verdict).not.toBe('valid');
      expect(r.problems.length).toBeLessThanOrEqual(10_001);
    }
  });

  it('a huge frame with almost no data is refused before allocating', () => {
    const h = header(true);
    const input = concat(h, Uint8Array.of(0x12, 0x34, 0xff, 0xd9));
    const e = onlyCodecErrors(() => decodeJpeg(input), input);
    expect(e?.code).toBe('truncated');
    expect(e?.message).toMatch(/cannot hold/);
  });
});
