import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CodecError, encodeJpeg, readPpm, writePpm, type CodecErrorCode } from '../src/index.js';
import { mulberry32, noiseImage } from './fixtures/images.js';
import { concat } from './helpers/bytes.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function expectCode(
  bytes: Uint8Array,
  code: CodecErrorCode,
  options?: { maxMegapixels?: number },
): void {
  let error: unknown;
  try {
    readPpm(bytes, options);
  } catch (e) {
    error = e;
  }
  expect(error, `expected a ${code} CodecError`).toBeInstanceOf(CodecError);
  expect((error as CodecError).code).toBe(code);
}

describe('readPpm / writePpm', () => {
  it('round-trips RGB images exactly', () => {
    for (const [w, h] of [
      [1, 1],
      [17, 9],
      [64, 3],
    ]) {
      const image = noiseImage(w, h, w + h);
      const file = writePpm(image);
      expect(
        new TextDecoder().decode(file.subarray(0, 12)).startsWith(`P6\n${w} ${h}\n255\n`),
      ).toBe(true);
      const back = readPpm(file);
      expect(back.width).toBe(w);
      expect(back.height).toBe(h);
      expect(back.data).toEqual(image.data);
    }
  });

  it('accepts comments and any whitespace in the header, and ignores data after the image', () => {
    const raster = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const file = concat(
      ascii('P6 # a comment\r\n\t2 # width\n  1\n# maxval next\n255\n'),
      raster,
      ascii('P6 trailing'),
    );
    const image = readPpm(file);
    expect([image.width, image.height]).toEqual([2, 1]);
    expect(Array.from(image.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('expands P5 grey to RGB', () => {
    const image = readPpm(concat(ascii('P5\n3 1\n255\n'), new Uint8Array([0, 128, 255])));
    expect(Array.from(image.data)).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255]);
  });

  it('rescales other maxvals like cjpeg, so encoding matches cjpeg on the same file', () => {
    const next = mulberry32(3);
    const w = 19;
    const h = 11;
    const eight = new Uint8Array(w * h * 3).map(() => next() % 101);
    const sixteen = new Uint8Array(w * h * 3 * 2);
    for (let i = 0; i < w * h * 3; i++) {
      const v = next() % 1001;
      sixteen[2 * i] = v >> 8;
      sixteen[2 * i + 1] = v & 0xff;
    }
    for (const file of [
      concat(ascii(`P6\n${w} ${h}\n100\n`), eight),
      concat(ascii(`P6\n${w} ${h}\n1000\n`), sixteen),
    ]) {
      const reference = spawnSync(
        'cjpeg',
        ['-quality', '75', '-sample', '2x2', '-restart', '1B', '-dct', 'int', '-baseline'],
        { input: file },
      );
      expect(reference.status).toBe(0);
      const ours = encodeJpeg(readPpm(file), { quality: 75 });
      expect(Buffer.compare(Buffer.from(ours), reference.stdout)).toBe(0);
    }
    // PGM samples are rescaled the same way and copied to R, G and B.
    const grey = eight.subarray(0, w * h);
    const rgb = new Uint8Array(w * h * 3).map((_, i) => grey[Math.floor(i / 3)]);
    expect(readPpm(concat(ascii(`P5\n${w} ${h}\n100\n`), grey))).toEqual(
      readPpm(concat(ascii(`P6\n${w} ${h}\n100\n`), rgb)),
    );
  });

  it('rejects what is not a binary PPM/PGM', () => {
    expectCode(new Uint8Array(0), 'not-an-image');
    expectCode(ascii('P3\n1 1\n255\n0 0 0\n'), 'not-an-image');
    expectCode(ascii('\x89PNG\r\n'), 'not-an-image');
    expectCode(ascii('P61 1 255 '), 'not-an-image');
  });

  it('rejects truncated headers and rasters', () => {
    expectCode(ascii('P6'), 'truncated');
    expectCode(ascii('P6\n'), 'truncated');
    expectCode(ascii('P6\n4 4'), 'truncated');
    expectCode(ascii('P6\n4 4\n255'), 'truncated');
    expectCode(concat(ascii('P6\n2 2\n255\n'), new Uint8Array(11)), 'truncated');
    expectCode(concat(ascii('P6\n2 2\n1000\n'), new Uint8Array(12)), 'truncated');
  });

  it('rejects malformed fields', () => {
    expectCode(ascii('P6\n0 4\n255\n'), 'corrupt');
    expectCode(ascii('P6\n4 0\n255\n'), 'corrupt');
    expectCode(ascii('P6\n4 4\n0\n'), 'corrupt');
    expectCode(ascii('P6\n4 4\n65536\n'), 'corrupt');
    expectCode(ascii('P6\n-4 4\n255\n'), 'corrupt');
    expectCode(ascii('P6\n4x 4\n255\n'), 'corrupt');
    expectCode(ascii('P6\n12345678901 4\n255\n'), 'corrupt');
    expectCode(ascii('P6\n1 1\n255#c\n\x00\x00\x00'), 'corrupt');
    expectCode(concat(ascii('P6\n1 1\n100\n'), new Uint8Array([1, 101, 1])), 'corrupt');
  });

  it('refuses oversized images before reading the raster', () => {
    // The header claims 100000 x 100000; only a few bytes follow. Size is checked first.
    expectCode(ascii('P6\n100000 100000\n255\n\x00\x00\x00'), 'too-large');
    expectCode(concat(ascii('P6\n2000 1000\n255\n')), 'too-large', { maxMegapixels: 1 });
    expect(() => readPpm(ascii('P6\n1 1\n255\n\x00\x00\x00'), { maxMegapixels: 0 })).toThrow(
      CodecError,
    );
  });

  it('writePpm rejects inconsistent images', () => {
    expect(() => writePpm({ width: 2, height: 2, data: new Uint8Array(11) })).toThrow(CodecError);
    expect(() => writePpm({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow(CodecError);
  });

  it('fuzz: mutated files only ever raise CodecError', () => {
    const next = mulberry32(77);
    const seeds = [
      writePpm(noiseImage(5, 4, 1)),
      concat(ascii('P5 # c\n3 2\n1000\n'), new Uint8Array(12)),
      ascii('P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06'),
    ];
    for (let i = 0; i < 3000; i++) {
      const file = seeds[i % seeds.length].slice();
      const edits = 1 + (next() % 4);
      for (let e = 0; e < edits; e++) file[next() % Math.min(file.length, 24)] = next() & 0xff;
      const cut = next() % 4 === 0 ? next() % file.length : file.length;
      try {
        const image = readPpm(file.subarray(0, cut), { maxMegapixels: 1 });
        expect(image.data.length).toBe(image.width * image.height * 3);
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
      }
    }
  });
});
