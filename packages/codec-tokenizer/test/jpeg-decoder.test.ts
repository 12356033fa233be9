/**
 * The decoder against libjpeg-turbo's djpeg: on cjpeg-made streams of many images, qualities,
 * sizes (1x1, 17x9, not multiples of 16), sampling factors and restart intervals, the RGB
 * output of decodeJpeg must equal `djpeg -dct int` byte for byte. Also: the structure parser's
 * view of those files, and bad input giving only CodecErrors with clear messages.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  Marker,
  decodeCoefficients,
  decodeJpeg,
  parseJpegStructure,
  type RgbImage,
} from '../src/index.js';
import { idctBlock, idctQuantTable, IDCT_RANGE_LIMIT } from '../src/jpeg/idct.js';
import {
  gradientImage,
  imageSet,
  lavfiImage,
  noiseImage,
  type NamedImage,
} from './fixtures/images.js';
import { cjpegImage, cjpegWith } from './helpers/peers.js';

/** djpeg's RGB output (PPM) for a JPEG; -rgb makes greyscale files come out as RGB too. */
function djpeg(jpeg: Uint8Array): RgbImage {
  const r = spawnSync('djpeg', ['-dct', 'int', '-rgb', '-ppm'], {
    input: jpeg,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0 || r.stderr.length > 0) throw new Error(`djpeg: ${r.stderr.toString()}`);
  const out = new Uint8Array(r.stdout);
  const head = new TextDecoder('latin1').decode(out.subarray(0, 40));
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(head);
  if (m === null) throw new Error(`djpeg wrote no P6 image: ${head}`);
  return { width: Number(m[1]), height: Number(m[2]), data: out.subarray(m[0].length) };
}

/** Number of samples that differ, and the largest difference. */
function compare(a: RgbImage, b: RgbImage): { differing: number; maxDiff: number } {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let differing = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (d !== 0) {
      differing++;
      maxDiff = Math.max(maxDiff, d);
    }
  }
  return { differing, maxDiff };
}

function expectExact(jpeg: Uint8Array, what: string): void {
  const ours = decodeJpeg(jpeg);
  const ref = djpeg(jpeg);
  const { differing, maxDiff } = compare(ours, ref);
  expect(differing, `${what}: ${differing} samples differ (max ${maxDiff})`).toBe(0);
}

describe('decodeJpeg equals djpeg -dct int exactly', () => {
  const small: NamedImage[] = [
    ...imageSet(17, 9),
    { name: 'noise-1x1', image: noiseImage(1, 1, 5) },
    { name: 'gradient-2x2', image: gradientImage(2, 2) },
    { name: 'noise-3x5', image: noiseImage(3, 5, 9) },
    { name: 'gradient-37x29', image: gradientImage(37, 29) },
    { name: 'mandelbrot-64x48', image: lavfiImage('mandelbrot', 64, 48) },
    { name: 'testsrc2-100x75', image: lavfiImage('testsrc2', 100, 75) },
  ];

  it('canonical 4:2:0 and 4:4:4 at many qualities, with and without restart markers', () => {
    let cases = 0;
    for (const { name, image } of small) {
      for (const q of [1, 10, 25, 50, 75, 90, 100]) {
        for (const sample of ['2x2', '1x1']) {
          for (const restart of ['0', '1B']) {
            const args = [
              '-quality',
              String(q),
              '-sample',
              sample,
              '-restart',
              restart,
              '-dct',
              'int',
              '-baseline',
            ];
            expectExact(cjpegWith(image, args), `${name} ${args.join(' ')}`);
            cases++;
          }
        }
      }
    }
    expect(cases).toBe(small.length * 28);
  });

  it('JPEG-LM form: 256x256, quality 25, 4:2:0, restart every MCU', () => {
    for (const { name, image } of imageSet(256, 256).slice(-4)) {
      expectExact(
        cjpegImage(image, { quality: 25, subsampling: '4:2:0', restartInterval: 1 }),
        name,
      );
    }
  });

  it('greyscale, RGB (no colour transform), 4:2:2, 4:4:0 and box-upsampled ratios', () => {
    const images = [gradientImage(45, 37), lavfiImage('smptebars', 33, 20), noiseImage(9, 17, 3)];
    const variants: string[][] = [
      ['-grayscale'],
      ['-rgb'],
      ['-sample', '2x1'],
      ['-sample', '1x2'],
      ['-sample', '4x1'],
      ['-sample', '3x2'],
      ['-sample', '1x4'],
      ['-sample', '2x2,1x1,2x1'],
      ['-sample', '1x1', '-restart', '3'],
      ['-sample', '2x2', '-restart', '1'],
    ];
    for (const image of images) {
      for (const v of variants) {
        for (const q of [20, 85]) {
          const args = ['-quality', String(q), '-dct', 'int', ...v];
          expectExact(cjpegWith(image, args), `${image.width}x${image.height} ${args.join(' ')}`);
        }
      }
    }
  });

  it('extended sequential (SOF1) with 16-bit quantisation tables', () => {
    // Without -baseline, quality 5 gives table entries > 255, which cjpeg writes as 16-bit.
    const jpeg = cjpegWith(gradientImage(40, 24), ['-quality', '5', '-dct', 'int']);
    expect(parseJpegStructure(jpeg).frame.sofMarker).toBe(Marker.SOF1);
    expectExact(jpeg, 'SOF1');
  });
});

describe('the islow IDCT', () => {
  it('matches a direct evaluation of jidctint.c on random and extreme blocks', () => {
    // A literal transcription of the C arithmetic in BigInt, as an independent check.
    const q = idctQuantTable(Uint16Array.from({ length: 64 }, (_, i) => 1 + ((i * 37) % 255)));
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let t = 0; t < 300; t++) {
      const coef = new Int16Array(64);
      const density = t % 3 === 0 ? 0.9 : 0.15;
      const range = t % 5 === 0 ? 32767 : 64;
      for (let i = 0; i < 64; i++)
        if (rnd() < density) coef[i] = Math.round((rnd() * 2 - 1) * range);
      const out = new Uint8Array(64);
      idctBlock(coef, 0, q, out, 0, 8);
      expect(Array.from(out)).toEqual(referenceIdct(coef, q));
    }
  });
});

/** jidctint.c jpeg_idct_islow with 64-bit JLONG arithmetic, transcribed in BigInt. */
function referenceIdct(coef: Int16Array, q: Int32Array): number[] {
  const C = (x: number): bigint => BigInt(x);
  const descale = (x: bigint, n: number): bigint => (x + (1n << BigInt(n - 1))) >> BigInt(n);
  const toInt = (x: bigint): bigint => BigInt.asIntN(32, x);
  const ws: bigint[] = new Array<bigint>(64).fill(0n);
  const pass = (
    get: (k: number) => bigint,
    put: (k: number, v: bigint) => void,
    shift: number,
  ): void => {
    let z2 = get(2);
    let z3 = get(6);
    let z1 = (z2 + z3) * C(4433);
    let tmp2 = z1 + z3 * C(-15137);
    let tmp3 = z1 + z2 * C(6270);
    z2 = get(0);
    z3 = get(4);
    let tmp0 = (z2 + z3) << 13n;
    let tmp1 = (z2 - z3) << 13n;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = get(7);
    tmp1 = get(5);
    tmp2 = get(3);
    tmp3 = get(1);
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * C(9633);
    tmp0 *= C(2446);
    tmp1 *= C(16819);
    tmp2 *= C(25172);
    tmp3 *= C(12299);
    z1 *= C(-7373);
    z2 *= C(-20995);
    z3 = z3 * C(-16069) + z5;
    z4 = z4 * C(-3196) + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    put(0, descale(tmp10 + tmp3, shift));
    put(7, descale(tmp10 - tmp3, shift));
    put(1, descale(tmp11 + tmp2, shift));
    put(6, descale(tmp11 - tmp2, shift));
    put(2, descale(tmp12 + tmp1, shift));
    put(5, descale(tmp12 - tmp1, shift));
    put(3, descale(tmp13 + tmp0, shift));
    put(4, descale(tmp13 - tmp0, shift));
  };
  for (let c = 0; c < 8; c++) {
    pass(
      (k) => BigInt(coef[k * 8 + c]) * BigInt(q[k * 8 + c]),
      (k, v) => (ws[k * 8 + c] = toInt(v)),
      11,
    );
  }
  const out: number[] = new Array<number>(64).fill(0);
  for (let r = 0; r < 8; r++) {
    pass(
      (k) => ws[r * 8 + k],
      (k, v) => (out[r * 8 + k] = IDCT_RANGE_LIMIT[Number(BigInt.asUintN(10, v))]),
      18,
    );
  }
  return out;
}

describe('parseJpegStructure', () => {
  it('reads frame, tables, restart interval, scan and segments of a cjpeg file', () => {
    const jpeg = cjpegImage(gradientImage(33, 17), {
      quality: 75,
      subsampling: '4:2:0',
      restartInterval: 1,
    });
    const s = parseJpegStructure(jpeg);
    expect(s.frame).toMatchObject({ sofMarker: Marker.SOF0, precision: 8, width: 33, height: 17 });
    expect(s.frame.components.map((c) => [c.id, c.h, c.v, c.quantTable])).toEqual([
      [1, 2, 2, 0],
      [2, 1, 1, 1],
      [3, 1, 1, 1],
    ]);
    expect(s.restartInterval).toBe(1);
    expect(s.colorSpace).toBe('ycbcr');
    expect(s.scan.map((c) => [c.componentIndex, c.dcTable, c.acTable])).toEqual([
      [0, 0, 0],
      [1, 1, 1],
      [2, 1, 1],
    ]);
    expect(s.segments.map((g) => g.marker)).toEqual([
      Marker.SOI,
      Marker.APP0,
      Marker.DQT,
      Marker.DQT,
      Marker.SOF0,
      Marker.DHT,
      Marker.DHT,
      Marker.DHT,
      Marker.DHT,
      Marker.DRI,
      Marker.SOS,
    ]);
    const sos = s.segments[s.segments.length - 1];
    expect(sos.offset + sos.length).toBe(s.headerEnd);
    for (const g of s.segments) expect(jpeg[g.offset]).toBe(0xff);
    expect(s.tables.quant[0]?.[0]).toBe(8); // K.1 DC entry 16 at quality 75 -> 8
  });

  it('decodeCoefficients returns the structure and one plane per component', () => {
    const jpeg = cjpegWith(gradientImage(24, 16), [
      '-quality',
      '90',
      '-sample',
      '2x2',
      '-dct',
      'int',
    ]);
    const c = decodeCoefficients(jpeg);
    expect(c.structure.frame.width).toBe(24);
    // 2x1 MCUs of 16x16 pixels: 4x2 luma blocks, 2x1 blocks of each chroma component.
    expect(c.planes.map((p) => p.length)).toEqual([8 * 64, 2 * 64, 2 * 64]);
    // A smooth gradient has a non-zero DC everywhere in luma.
    expect(c.planes[0][0]).not.toBe(0);
  });
});

/** A byte-level copy with edits, for building bad inputs from a good file. */
function edit(bytes: Uint8Array, at: number, values: number[]): Uint8Array {
  const out = bytes.slice();
  values.forEach((v, i) => (out[at + i] = v));
  return out;
}

function codecError(f: () => unknown): CodecError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError);
    return e as CodecError;
  }
  throw new Error('expected a CodecError');
}

describe('bad input gives a CodecError naming the problem and its offset', () => {
  const good = cjpegImage(gradientImage(32, 32), {
    quality: 50,
    subsampling: '4:2:0',
    restartInterval: 1,
  });
  const s = parseJpegStructure(good);
  const sof = s.segments.find((g) => g.marker === Marker.SOF0);
  if (sof === undefined) throw new Error('no SOF0');

  it('empty input and non-JPEG bytes', () => {
    const empty = codecError(() => decodeJpeg(new Uint8Array(0)));
    expect(empty.code).toBe('not-an-image');
    expect(empty.message).toMatch(/empty/);
    const png = codecError(() =>
      decodeJpeg(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10])),
    );
    expect(png.code).toBe('not-an-image');
    expect(png.message).toMatch(/0x89 0x50/);
  });

  it('truncated headers and scans', () => {
    const inHeader = codecError(() => decodeJpeg(good.subarray(0, sof.offset + 5)));
    expect(inHeader.code).toBe('truncated');
    expect(inHeader.offset).toBe(sof.offset);
    expect(inHeader.message).toMatch(/SOF0 segment at offset/);
    const inScan = codecError(() => decodeJpeg(good.subarray(0, s.headerEnd + 40)));
    expect(inScan.code).toBe('truncated');
    expect(inScan.message).toMatch(/ends/);
  });

  it('absurd dimensions are refused before decoding, and the limit is configurable', () => {
    const huge = edit(good, sof.offset + 5, [0xfd, 0xe8, 0xfd, 0xe8]); // 65000 x 65000
    const e = codecError(() => decodeJpeg(huge));
    expect(e.code).toBe('too-large');
    expect(e.message).toMatch(/65000x65000/);
    expect(codecError(() => decodeJpeg(good, { maxMegapixels: 0.0005 })).code).toBe('too-large');
    expect(decodeJpeg(good, { maxMegapixels: 0.002 }).width).toBe(32);
    expect(codecError(() => decodeJpeg(good, { maxMegapixels: -1 })).code).toBe('invalid-argument');
    expect(codecError(() => decodeJpeg(edit(good, sof.offset + 5, [0, 0]))).code).toBe(
      'unsupported',
    ); // DNL
  });

  it('unsupported processes and precisions', () => {
    const progressive = cjpegWith(gradientImage(16, 16), ['-progressive']);
    expect(codecError(() => decodeJpeg(progressive)).message).toMatch(/progressive/);
    const arithmetic = cjpegWith(gradientImage(16, 16), ['-arithmetic']);
    expect(codecError(() => decodeJpeg(arithmetic)).code).toBe('unsupported');
    const twelve = edit(good, sof.offset + 4, [12]);
    const e = codecError(() => decodeJpeg(twelve));
    expect([e.code, e.offset]).toEqual(['unsupported', sof.offset]);
    expect(e.message).toMatch(/12-bit/);
  });

  it('corrupt entropy-coded data', () => {
    // Replace a run of scan bytes with 0xFE: codes of all ones are not in the Annex K tables.
    const bad = good.slice();
    bad.fill(0xfe, s.headerEnd + 2, s.headerEnd + 12);
    const e = codecError(() => decodeJpeg(bad));
    expect(e.code).toBe('corrupt');
    expect(e.offset).toBeGreaterThanOrEqual(s.headerEnd);
    expect(e.message).toMatch(/MCU \d+/);
  });

  it('harmless deviations still decode: bytes after EOI, missing EOI after complete data', () => {
    const ref = decodeJpeg(good);
    const tail = new Uint8Array(good.length + 5);
    tail.set(good);
    expect(decodeJpeg(tail).data).toEqual(ref.data);
    expect(decodeJpeg(good.subarray(0, good.length - 2)).data).toEqual(ref.data);
  });
});
