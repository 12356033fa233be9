import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  CANONICAL_SCAN,
  CodecError,
  JpegEncoder,
  Marker,
  createCanonicalFrame,
  createStandardTables,
  encodeJpeg,
  encodeScanData,
  forwardTransform,
  writeJpegHeaders,
  type ChromaSubsampling,
  type FrameHeader,
  type RgbImage,
  type ScanComponent,
} from '../src/index.js';
import { BitWriter } from '../src/jpeg/bit-writer.js';
import { rgbToCb, rgbToCr, rgbToY } from '../src/jpeg/color-convert.js';
import { forwardDctBlock } from '../src/jpeg/fdct.js';
import { computeNonzeroMasks, computeQuantDivisors, quantizeBlock } from '../src/jpeg/quantize.js';
import {
  checkerboardImage,
  flatImage,
  gradientImage,
  imageSet,
  lavfiImage,
  mulberry32,
  noiseImage,
  noisyGradientImage,
  primariesImage,
  type NamedImage,
} from './fixtures/images.js';
import { cjpegImage, cjpegWith } from './helpers/peers.js';

const RESTARTS = [0, 1, 4] as const;

/** cjpeg with the canonical baseline/integer-DCT flags plus `args` (the non-canonical forms). */
const cjpegBaseline = (image: RgbImage, args: readonly string[]): Uint8Array =>
  cjpegWith(image, ['-dct', 'int', '-baseline', ...args]);

/** Index of the first differing byte, or -1; keeps failure messages short. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function expectSameAsCjpeg(
  name: string,
  ours: Uint8Array,
  reference: Uint8Array,
  what: string,
): void {
  const at = firstDifference(ours, reference);
  expect(
    at,
    `${name} ${what}: ours ${ours.length} B, cjpeg ${reference.length} B, first difference at byte ${at}`,
  ).toBe(-1);
}

/** djpeg must decode the file with status 0 and nothing on stderr (it exits 2 on warnings). */
function expectDjpegClean(file: Uint8Array, what: string): void {
  const result = spawnSync('djpeg', ['-dct', 'int', '-ppm'], {
    input: file,
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(result.status, `${what}: djpeg status (${result.stderr.toString()})`).toBe(0);
  expect(result.stderr.toString(), `${what}: djpeg warnings`).toBe('');
}

describe('canonical encoder: byte-identical to cjpeg for every quality and restart interval', () => {
  const fullSweep: NamedImage[] = [
    { name: 'mandelbrot-256x256', image: lavfiImage('mandelbrot', 256, 256) },
    { name: 'noise-17x9', image: noiseImage(17, 9, 99) },
    { name: 'testsrc2-33x39', image: lavfiImage('testsrc2', 33, 39) },
  ];
  for (const { name, image } of fullSweep) {
    it(`4:2:0 ${name}: Q 1..100 x R {0,1,4}`, () => {
      for (const restart of RESTARTS) {
        for (let quality = 1; quality <= 100; quality++) {
          const ours = new JpegEncoder({ quality, restartInterval: restart }).encode(image);
          expectSameAsCjpeg(
            name,
            ours,
            cjpegImage(image, { quality: quality, restartInterval: restart, subsampling: '4:2:0' }),
            `Q${quality} R${restart}`,
          );
        }
      }
    });
  }

  it('4:4:4 noisy gradient 31x23: Q 1..100 x R {0,1,4}', () => {
    const image = noisyGradientImage(31, 23, 5);
    for (const restart of RESTARTS) {
      for (let quality = 1; quality <= 100; quality++) {
        const ours = encodeJpeg(image, { quality, restartInterval: restart, subsampling: '4:4:4' });
        expectSameAsCjpeg(
          'noisy-gradient-31x23',
          ours,
          cjpegImage(image, { quality: quality, restartInterval: restart, subsampling: '4:4:4' }),
          `Q${quality} R${restart}`,
        );
      }
    }
  });
});

describe('canonical encoder: sampled settings over many images and sizes', () => {
  const sizes: readonly [number, number][] = [
    [1, 1],
    [2, 2],
    [17, 9],
    [9, 17],
    [16, 16],
    [33, 47],
    [15, 1],
    [1, 15],
    [250, 130],
    [256, 256],
  ];
  for (const [width, height] of sizes) {
    it(`${width}x${height}: every fixture image, random Q/R/subsampling, decodes cleanly`, () => {
      const next = mulberry32(width * 65536 + height);
      for (const { name, image } of imageSet(width, height)) {
        for (let trial = 0; trial < 4; trial++) {
          const quality = 1 + (next() % 100);
          const restart = RESTARTS[next() % 3];
          const subsampling: ChromaSubsampling = next() % 3 === 0 ? '4:4:4' : '4:2:0';
          const ours = encodeJpeg(image, { quality, restartInterval: restart, subsampling });
          const what = `Q${quality} R${restart} ${subsampling}`;
          expectSameAsCjpeg(
            name,
            ours,
            cjpegImage(image, {
              quality: quality,
              restartInterval: restart,
              subsampling: subsampling,
            }),
            what,
          );
          if (trial === 0) expectDjpegClean(ours, `${name} ${what}`);
        }
      }
    });
  }

  it('other restart intervals, including one longer than the image', () => {
    const image = lavfiImage('smptebars', 72, 40);
    for (const restart of [2, 3, 5, 7, 8, 9, 17, 1000, 65535]) {
      for (const subsampling of ['4:2:0', '4:4:4'] as const) {
        const ours = encodeJpeg(image, { quality: 30, restartInterval: restart, subsampling });
        expectSameAsCjpeg(
          'smptebars-72x40',
          ours,
          cjpegImage(image, { quality: 30, restartInterval: restart, subsampling: subsampling }),
          `R${restart} ${subsampling}`,
        );
      }
    }
  });

  it('defaults are quality-only 4:2:0 with a restart marker after every MCU', () => {
    const image = lavfiImage('cellauto', 40, 40);
    expectSameAsCjpeg(
      'cellauto-40x40',
      encodeJpeg(image, { quality: 25 }),
      cjpegImage(image, { quality: 25, restartInterval: 1, subsampling: '4:2:0' }),
      'defaults',
    );
  });
});

describe('lower-level API composes to the same file', () => {
  const image = lavfiImage('testsrc2', 48, 40);

  it('writeJpegHeaders + encodeScanData(forwardTransform(...)) + EOI === encodeJpeg', () => {
    for (const subsampling of ['4:2:0', '4:4:4'] as const) {
      for (const restart of RESTARTS) {
        const tables = createStandardTables(25);
        const frame = createCanonicalFrame(image.width, image.height, subsampling);
        const coefficients = forwardTransform(image, frame, tables.quant as Uint16Array[]);
        const header = writeJpegHeaders(frame, tables, CANONICAL_SCAN, restart);
        const scan = encodeScanData(coefficients, CANONICAL_SCAN, tables, restart);
        const file = new Uint8Array([...header, ...scan, 0xff, Marker.EOI]);
        expect(file).toEqual(
          encodeJpeg(image, { quality: 25, restartInterval: restart, subsampling }),
        );
        // The header ends with the SOS segment and the scan starts right after it.
        expect(header.subarray(header.length - 14)).toEqual(
          new Uint8Array([0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]),
        );
      }
    }
  });

  it('the JpegEncoder header is the file prefix up to the scan', () => {
    const encoder = new JpegEncoder({ quality: 25 });
    const header = encoder.headerFor(image.width, image.height);
    const file = encoder.encode(image);
    expect(file.subarray(0, header.length)).toEqual(header);
  });

  /** Assemble a file from the low-level pieces for an arbitrary frame and compare with cjpeg. */
  function assemble(
    frame: FrameHeader,
    scan: readonly ScanComponent[],
    quality: number,
    restart: number,
  ): Uint8Array {
    const tables = createStandardTables(quality);
    const coefficients = forwardTransform(image, frame, tables.quant as Uint16Array[]);
    return new Uint8Array([
      ...writeJpegHeaders(frame, tables, scan, restart),
      ...encodeScanData(coefficients, scan, tables, restart),
      0xff,
      Marker.EOI,
    ]);
  }

  it('other frames: greyscale and 2x1 / 1x2 chroma sampling match cjpeg', () => {
    const grey: FrameHeader = {
      sofMarker: Marker.SOF0,
      precision: 8,
      width: image.width,
      height: image.height,
      components: [{ id: 1, h: 1, v: 1, quantTable: 0 }],
    };
    const greyScan = [{ componentIndex: 0, dcTable: 0, acTable: 0 }];
    for (const quality of [5, 50, 95]) {
      for (const restart of [0, 3]) {
        const what = `Q${quality} R${restart}`;
        expectSameAsCjpeg(
          'grey',
          assemble(grey, greyScan, quality, restart),
          cjpegBaseline(image, [
            '-grayscale',
            '-quality',
            String(quality),
            '-restart',
            `${restart}B`,
          ]),
          what,
        );
        for (const [h, v] of [
          [2, 1],
          [1, 2],
        ]) {
          const frame: FrameHeader = {
            ...createCanonicalFrame(image.width, image.height, '4:4:4'),
            components: [
              { id: 1, h, v, quantTable: 0 },
              { id: 2, h: 1, v: 1, quantTable: 1 },
              { id: 3, h: 1, v: 1, quantTable: 1 },
            ],
          };
          expectSameAsCjpeg(
            `${h}x${v}`,
            assemble(frame, CANONICAL_SCAN, quality, restart),
            cjpegBaseline(image, [
              '-quality',
              String(quality),
              '-sample',
              `${h}x${v}`,
              '-restart',
              `${restart}B`,
            ]),
            what,
          );
        }
      }
    }
  });

  it('restart markers: one between intervals, cycling RST0..RST7, none after the last MCU', () => {
    // 48x40 at 4:2:0 has 3 x 3 = 9 MCUs; with R = 1 that is 8 markers, RST0..RST7.
    const scan = encodeScanData(
      forwardTransform(
        image,
        createCanonicalFrame(48, 40),
        createStandardTables(25).quant as Uint16Array[],
      ),
      CANONICAL_SCAN,
      createStandardTables(25),
      1,
    );
    const markers: number[] = [];
    for (let i = 0; i + 1 < scan.length; i++) {
      if (scan[i] === 0xff) {
        expect(
          scan[i + 1] === 0x00 || (scan[i + 1] >= Marker.RST0 && scan[i + 1] <= Marker.RST7),
        ).toBe(true);
        if (scan[i + 1] !== 0) markers.push(scan[i + 1]);
        i++;
      }
    }
    expect(markers).toEqual([0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7]);
    expect(scan[scan.length - 1]).not.toBe(0xff);
  });
});

describe('entropy coding of arbitrary coefficients', () => {
  /**
   * Random in-range coefficients: mostly zeros with long runs (ZRL), some blocks full of
   * +-1023, DC values anywhere in -1023..1023 (differences up to 2046).
   */
  function randomCoefficients(
    frame: FrameHeader,
    seed: number,
  ): ReturnType<typeof forwardTransform> {
    const next = mulberry32(seed);
    const tables = createStandardTables(50);
    const coefficients = forwardTransform(
      flatImage(frame.width, frame.height, [0, 0, 0]),
      frame,
      tables.quant as Uint16Array[],
    );
    for (const plane of coefficients.planes) {
      for (let o = 0; o < plane.length; o += 64) {
        const kind = next() % 6;
        plane[o] = (next() % 2047) - 1023;
        for (let i = 1; i < 64; i++) {
          let v = 0;
          if (kind === 0) v = next() & 1 ? 1023 : -1023;
          else if (kind === 1)
            v = i === 63 ? 1 : 0; // three ZRLs, then the last coefficient
          else if (kind === 2) v = next() % 9 === 0 ? (next() % 2047) - 1023 : 0;
          else if (kind === 3) v = next() % 3 === 0 ? (next() % 7) - 3 : 0;
          plane[o + i] = v;
        }
      }
    }
    return coefficients;
  }

  it('libjpeg reads our scans back to the same coefficients (jpegtran re-encodes them identically)', () => {
    // jpegtran regenerates dummy blocks (jctrans.c), so 4:2:0 sizes are whole MCUs here; dummy
    // blocks are covered by the cjpeg comparisons above.
    const frames = [
      createCanonicalFrame(32, 48, '4:2:0'),
      createCanonicalFrame(48, 16, '4:2:0'),
      createCanonicalFrame(20, 12, '4:4:4'),
      createCanonicalFrame(17, 9, '4:4:4'),
    ];
    const tables = createStandardTables(50);
    let seed = 1;
    for (const frame of frames) {
      for (const restart of [0, 1, 3]) {
        const coefficients = randomCoefficients(frame, seed++);
        const file = new Uint8Array([
          ...writeJpegHeaders(frame, tables, CANONICAL_SCAN, restart),
          ...encodeScanData(coefficients, CANONICAL_SCAN, tables, restart),
          0xff,
          Marker.EOI,
        ]);
        const result = spawnSync('jpegtran', ['-copy', 'none', '-restart', `${restart}B`], {
          input: file,
        });
        expect(result.status, result.stderr.toString()).toBe(0);
        expectSameAsCjpeg(
          `${frame.width}x${frame.height}`,
          file,
          result.stdout,
          `jpegtran R${restart}`,
        );
      }
    }
  });
});

describe('encoder reuse', () => {
  it('one JpegEncoder gives the same bytes as fresh encoders across sizes and contents', () => {
    const encoder = new JpegEncoder({ quality: 40, restartInterval: 1 });
    const images = [
      noiseImage(64, 64, 3),
      flatImage(64, 64, [10, 20, 30]),
      checkerboardImage(17, 9),
      primariesImage(64, 64),
      noiseImage(64, 64, 3),
      gradientImage(1, 1),
    ];
    for (const img of images) {
      expect(encoder.encode(img)).toEqual(encodeJpeg(img, { quality: 40, restartInterval: 1 }));
    }
  });

  it('returned files are independent copies', () => {
    const encoder = new JpegEncoder({ quality: 25 });
    const a = encoder.encode(noiseImage(32, 32, 1));
    const copy = a.slice();
    encoder.encode(noiseImage(32, 32, 2));
    expect(a).toEqual(copy);
    expect(encoder.tables.quant[0]?.[0]).toBe(32); // 16 * 200% at quality 25
  });
});

describe('option and input validation', () => {
  const image = flatImage(8, 8, [1, 2, 3]);
  const invalid = (f: () => unknown): void => {
    let error: unknown;
    try {
      f();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CodecError);
    expect((error as CodecError).code).toBe('invalid-argument');
  };

  it('rejects qualities outside 1..100 and non-integers', () => {
    for (const quality of [0, 101, -5, 2.5, Number.NaN, Infinity])
      invalid(() => new JpegEncoder({ quality }));
  });

  it('rejects restart intervals outside 0..65535 and non-integers', () => {
    for (const restartInterval of [-1, 65536, 1.5, Number.NaN]) {
      invalid(() => new JpegEncoder({ quality: 25, restartInterval }));
    }
  });

  it('rejects unknown subsampling', () => {
    invalid(() => new JpegEncoder({ quality: 25, subsampling: '4:2:2' as ChromaSubsampling }));
  });

  it('rejects bad images', () => {
    const encoder = new JpegEncoder({ quality: 25 });
    invalid(() => encoder.encode({ width: 0, height: 8, data: new Uint8Array(0) }));
    invalid(() => encoder.encode({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 3 - 1) }));
    invalid(() => encoder.encode({ width: 65536, height: 1, data: new Uint8Array(65536 * 3) }));
    invalid(() => encoder.encode({ width: 2.5, height: 2, data: new Uint8Array(15) }));
    invalid(() =>
      forwardTransform(
        image,
        createCanonicalFrame(16, 8),
        createStandardTables(25).quant as Uint16Array[],
      ),
    );
  });

  it('refuses coefficients the Huffman tables cannot code', () => {
    const tables = createStandardTables(25);
    const coefficients = forwardTransform(
      image,
      createCanonicalFrame(8, 8),
      tables.quant as Uint16Array[],
    );
    coefficients.planes[0][1] = 1024; // AC magnitude category 11: not in Table K.5
    expect(() => encodeScanData(coefficients, CANONICAL_SCAN, tables, 0)).toThrow(CodecError);
    coefficients.planes[0][1] = 1023;
    expect(() => encodeScanData(coefficients, CANONICAL_SCAN, tables, 0)).not.toThrow();
  });
});

describe('building blocks', () => {
  it('colour conversion: extremes stay in range, greys have neutral chroma', () => {
    expect([rgbToY(255, 255, 255), rgbToCb(255, 255, 255), rgbToCr(255, 255, 255)]).toEqual([
      255, 128, 128,
    ]);
    expect([rgbToY(0, 0, 0), rgbToCb(0, 0, 0), rgbToCr(0, 0, 0)]).toEqual([0, 128, 128]);
    expect(rgbToCb(0, 0, 255)).toBe(255);
    expect(rgbToCr(255, 0, 0)).toBe(255);
    for (let v = 0; v < 256; v++) {
      expect(rgbToY(v, v, v)).toBe(v);
      expect(rgbToCb(v, v, v)).toBe(128);
    }
    const next = mulberry32(11);
    for (let i = 0; i < 2000; i++) {
      const [r, g, b] = [next() & 255, next() & 255, next() & 255];
      const y = 0.299 * r + 0.587 * g + 0.114 * b;
      expect(Math.abs(rgbToY(r, g, b) - y)).toBeLessThanOrEqual(0.51);
      expect(
        Math.abs(rgbToCb(r, g, b) - (128 - 0.168736 * r - 0.331264 * g + 0.5 * b)),
      ).toBeLessThan(1);
      expect(
        Math.abs(rgbToCr(r, g, b) - (128 + 0.5 * r - 0.418688 * g - 0.081312 * b)),
      ).toBeLessThan(1);
    }
  });

  it('islow FDCT is 8x the orthonormal DCT of the level-shifted block, to within rounding', () => {
    const next = mulberry32(5);
    const samples = new Uint8Array(64);
    const out = new Int32Array(64);
    const c = (k: number): number => (k === 0 ? Math.SQRT1_2 : 1);
    for (let trial = 0; trial < 200; trial++) {
      for (let i = 0; i < 64; i++) samples[i] = trial < 2 ? 255 * trial : next() & 255;
      forwardDctBlock(samples, 0, 8, out);
      for (let v = 0; v < 8; v++) {
        for (let u = 0; u < 8; u++) {
          let sum = 0;
          for (let y = 0; y < 8; y++) {
            for (let x = 0; x < 8; x++) {
              sum +=
                (samples[y * 8 + x] - 128) *
                Math.cos(((2 * x + 1) * u * Math.PI) / 16) *
                Math.cos(((2 * y + 1) * v * Math.PI) / 16);
            }
          }
          const exact = 8 * 0.25 * c(u) * c(v) * sum;
          expect(Math.abs(out[v * 8 + u] - exact)).toBeLessThan(3);
        }
      }
    }
    // A flat block has only a DC term: 64 * (value - 128).
    samples.fill(200);
    forwardDctBlock(samples, 0, 8, out);
    expect(out[0]).toBe(64 * 72);
    expect(out.subarray(1).every((x) => x === 0)).toBe(true);
  });

  it('reciprocal quantisation equals rounding division for every divisor and magnitude', () => {
    const coefs = new Int32Array(64);
    const out = new Int16Array(64);
    const masks = new Int32Array(2);
    const expectedMasks = new Int32Array(2);
    for (const q of [
      ...Array.from({ length: 255 }, (_, i) => i + 1),
      256,
      1000,
      4095,
      4096,
      8191,
    ]) {
      const divisors = computeQuantDivisors(new Uint16Array(64).fill(q));
      const d = 8 * q;
      for (let base = -16384; base < 16384; base += 64) {
        for (let i = 0; i < 64; i++) coefs[i] = base + i;
        quantizeBlock(coefs, divisors, out, 0, masks, 0);
        for (let i = 0; i < 64; i++) {
          const t = coefs[i];
          const expected = Math.sign(t) * Math.floor((Math.abs(t) + (d >> 1)) / d);
          if (out[i] !== expected)
            expect(`q=${q} t=${t} -> ${out[i]}`).toBe(`q=${q} t=${t} -> ${expected}`);
        }
        computeNonzeroMasks(out, expectedMasks);
        if (masks[0] !== expectedMasks[0] || masks[1] !== expectedMasks[1])
          expect(masks).toEqual(expectedMasks);
      }
    }
  });

  it('nonzero masks put zig-zag position k at bit 31 - k % 32 of word k / 32', () => {
    const plane = new Int16Array(128);
    const masks = new Int32Array(4);
    plane[0] = 5; // DC is never in the mask
    plane[1] = -1; // zig-zag 1
    plane[63] = 2; // zig-zag 63
    plane[64 + 8] = 3; // zig-zag 2 of the second block
    plane[64 + 27] = 1; // zig-zag 24
    plane[64 + 56] = 1; // zig-zag 35
    computeNonzeroMasks(plane, masks);
    expect(Array.from(masks)).toEqual([0x40000000, 1, 0x20000000 | 0x80, 0x10000000]);
  });

  it('bit writer stuffs 0xFF data bytes and pads with 1-bits', () => {
    const w = new BitWriter(16);
    w.put(0xff, 8);
    w.put(0b101, 3);
    w.flush();
    expect(Array.from(w.view())).toEqual([0xff, 0x00, 0b10111111]);
    w.reset();
    w.put(0b1111111, 7);
    w.flush(); // the padded byte is 0xFF and must be stuffed too
    w.marker(Marker.RST0);
    w.put(0x1234567, 27);
    w.put(0x3, 2);
    w.flush();
    expect(Array.from(w.view())).toEqual([0xff, 0x00, 0xff, 0xd0, 0x24, 0x68, 0xac, 0xff, 0x00]);
    w.reset();
    w.flush();
    expect(w.length).toBe(0);
    // Growth keeps what was written.
    const big = new BitWriter(16);
    for (let i = 0; i < 1000; i++) {
      big.reserve(4);
      big.put(0xabcd, 16);
    }
    big.flush();
    expect(big.length).toBe(2000);
    expect(big.view()[1998]).toBe(0xab);
  });
});

describe('subsampling option', () => {
  it('4:4:4 has three 1x1 components, 4:2:0 has a 2x2 luma component', () => {
    const image = gradientImage(16, 16);
    const f444 = encodeJpeg(image, { quality: 50, subsampling: '4:4:4' });
    const f420 = encodeJpeg(image, { quality: 50 });
    const sof = (f: Uint8Array): number[] => {
      for (let i = 2; i < f.length; i++)
        if (f[i] === 0xff && f[i + 1] === Marker.SOF0)
          return Array.from(f.subarray(i + 10, i + 19));
      return [];
    };
    expect(sof(f444)).toEqual([1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]);
    expect(sof(f420)).toEqual([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  });
});
