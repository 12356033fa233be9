/**
 * The validator: valid cjpeg files pass; each kind of problem is found, placed and counted on
 * hand-built streams; and on a corpus of corrupted cjpeg files (bit flips, byte substitutions,
 * insertions, deletions, truncations, garbage tails; with and without restart markers) every
 * stream that djpeg warns about or fails on is flagged. With a restart marker after every MCU,
 * damage stays within the interval it hits and every other MCU is intact with its original
 * coefficients.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  LUMINANCE_AC_K5,
  LUMINANCE_DC_K3,
  MCU_DAMAGED,
  MCU_INTACT,
  MCU_MISSING,
  decodeCoefficients,
  deriveHuffmanCodes,
  parseJpegStructure,
  validateJpeg,
  type HuffmanSpec,
  type JpegProblemKind,
  type ValidationReport,
} from '../src/index.js';
import { gradientImage, lavfiImage, mulberry32, noisyGradientImage } from './fixtures/images.js';
import { concat } from './helpers/bytes.js';
import { cjpegImage, cjpegWith } from './helpers/peers.js';

/** djpeg's judgement: true when it warns (exit 2, message on stderr) or fails. */
function djpegComplains(jpeg: Uint8Array): boolean {
  const r = spawnSync('djpeg', ['-ppm', '-outfile', '/dev/null'], { input: jpeg });
  return r.status !== 0 || r.stderr.length > 0;
}

function kinds(r: ValidationReport): JpegProblemKind[] {
  return r.problems.map((p) => p.kind);
}

function expectConsistent(r: ValidationReport): void {
  expect(r.intactMcus + r.damagedMcus + r.missingMcus).toBe(r.mcuCount);
  expect(r.mcuStatus.length).toBe(r.mcuCount);
  if (r.problems.length === 0) expect(r.verdict).toBe('valid');
  else expect(r.verdict).toBe(r.structure !== null && r.intactMcus > 0 ? 'repairable' : 'rejected');
}

// ---------------------------------------------------------------------------------------------
// Hand-built greyscale streams: one DC and one AC table of our choosing, symbols written bit by
// bit, so that problems djpeg would never see from cjpeg can be produced exactly.

class Bits {
  private readonly bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(value: number, length: number): this {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.n === 8) this.flush();
    }
    return this;
  }
  private flush(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // byte stuffing
    this.acc = 0;
    this.n = 0;
  }
  /** Pad to a byte with `bit`s (1 is what T.81 asks for) and return the bytes so far. */
  end(bit = 1): number[] {
    while (this.n !== 0) this.put(bit, 1);
    const out = this.bytes.slice();
    this.bytes.length = 0;
    return out;
  }
}

interface Tables {
  readonly dc: HuffmanSpec;
  readonly ac: HuffmanSpec;
}

/** Write a symbol of `spec`, then `size` magnitude bits of value v (T.81 F.1.2.1). */
function symbol(bits: Bits, spec: HuffmanSpec, sym: number, v = 0, size = sym & 15): Bits {
  const codes = deriveHuffmanCodes(spec);
  if (codes.size[sym] === 0) throw new Error(`symbol ${sym} not in table`);
  bits.put(codes.code[sym], codes.size[sym]);
  if (size > 0) bits.put(v >= 0 ? v : v + (1 << size) - 1, size);
  return bits;
}

const STD: Tables = { dc: LUMINANCE_DC_K3, ac: LUMINANCE_AC_K5 };
/** A DC table with categories 0..15 and an AC table with EOB, ZRL and a few odd symbols. */
const ODD: Tables = {
  dc: { bits: [0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], values: [...Array(16).keys()] },
  ac: {
    bits: [0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0],
    values: [0x00, 0xf0, 0x01, 0x0b, 0x50, 0xf1, 0x11, 0x02],
  },
};

function segment(marker: number, body: number[]): number[] {
  return [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body];
}

function dht(cls: number, spec: HuffmanSpec): number[] {
  return segment(0xc4, [cls << 4, ...spec.bits, ...spec.values]);
}

/** A greyscale baseline JPEG, width x 8 pixels (width/8 MCUs), quantisation all 1s. */
function greyJpeg(width: number, tables: Tables, restart: number, scan: number[]): Uint8Array {
  const header = [
    0xff,
    0xd8,
    ...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    ...segment(0xdb, [0, ...new Array<number>(64).fill(1)]),
    ...segment(0xc0, [8, 0, 8, width >> 8, width & 255, 1, 1, 0x11, 0]),
    ...dht(0, tables.dc),
    ...dht(1, tables.ac),
    ...(restart > 0 ? segment(0xdd, [restart >> 8, restart & 255]) : []),
    ...segment(0xda, [1, 1, 0x00, 0, 63, 0]),
  ];
  return Uint8Array.from([...header, ...scan, 0xff, 0xd9]);
}

/** The data of one flat block: DC difference d (category from its magnitude), then EOB. */
function flatBlock(bits: Bits, d: number, t: Tables = STD): Bits {
  const size = d === 0 ? 0 : 32 - Math.clz32(Math.abs(d));
  return symbol(symbol(bits, t.dc, size, d), t.ac, 0x00);
}

/** n flat MCUs with restart markers after each (rst = true) or none. */
function flatScan(n: number, rst: boolean): number[] {
  const out: number[] = [];
  const bits = new Bits();
  for (let i = 0; i < n; i++) {
    flatBlock(bits, i === 0 || rst ? 100 : 0);
    if (rst && i < n - 1) out.push(...bits.end(), 0xff, 0xd0 + (i & 7));
  }
  out.push(...bits.end());
  return out;
}

describe('validateJpeg on valid files', () => {
  it('cjpeg files of every kind are valid, with every MCU intact', () => {
    const image = noisyGradientImage(45, 29);
    const variants: string[][] = [
      ['-sample', '2x2', '-restart', '1B'],
      ['-sample', '2x2'],
      ['-sample', '1x1', '-restart', '2'],
      ['-sample', '2x1', '-restart', '5B'],
      ['-grayscale'],
      ['-grayscale', '-restart', '1B'],
      ['-rgb'],
      ['-sample', '2x2', '-optimize'],
    ];
    for (const v of variants) {
      for (const q of [5, 25, 95]) {
        const jpeg = cjpegWith(image, ['-quality', String(q), '-dct', 'int', ...v]);
        const r = validateJpeg(jpeg);
        expect(r.problems, v.join(' ')).toEqual([]);
        expect(r.verdict).toBe('valid');
        expect(r.intactMcus).toBe(r.mcuCount);
        expect(r.eoiOffset).toBe(jpeg.length - 2);
      }
    }
    // MCU counts: interleaved 4:2:0 MCUs of 16x16; a greyscale scan codes one block per MCU.
    expect(validateJpeg(cjpegWith(image, ['-sample', '2x2'])).mcuCount).toBe(3 * 2);
    expect(validateJpeg(cjpegWith(image, ['-grayscale'])).mcuCount).toBe(6 * 4);
  });

  it('the report holds the same coefficients as decodeCoefficients', () => {
    const jpeg = cjpegWith(lavfiImage('testsrc2', 48, 32), [
      '-quality',
      '60',
      '-sample',
      '2x2',
      '-restart',
      '1B',
    ]);
    const r = validateJpeg(jpeg);
    const c = decodeCoefficients(jpeg);
    expect(r.coefficients?.planes).toEqual(c.planes);
    expect(r.structure?.headerEnd).toBe(c.structure.headerEnd);
  });

  it('hand-built streams with and without restart markers are valid', () => {
    for (const rst of [false, true]) {
      const r = validateJpeg(greyJpeg(8 * 5, STD, rst ? 1 : 0, flatScan(5, rst)));
      expect(r.problems).toEqual([]);
      expect(r.mcuCount).toBe(5);
      expect(djpegComplains(greyJpeg(8 * 5, STD, rst ? 1 : 0, flatScan(5, rst)))).toBe(false);
    }
  });
});

describe('validateJpeg finds and places each kind of problem', () => {
  const one = (t: Tables, write: (b: Bits) => void): Uint8Array => {
    const b = new Bits();
    write(b);
    return greyJpeg(8, t, 0, b.end());
  };

  it('symbols a baseline encoder never writes', () => {
    const cases: [string, Uint8Array, JpegProblemKind, RegExp][] = [
      ['DC category 12', one(ODD, (b) => symbol(b, ODD.dc, 12, 3000)), 'bad-symbol', /category 12/],
      [
        'AC size 11',
        one(ODD, (b) => symbol(symbol(b, ODD.dc, 0), ODD.ac, 0x0b, 1024)),
        'bad-symbol',
        /0x0b/,
      ],
      [
        'run 5 size 0',
        one(ODD, (b) => symbol(symbol(b, ODD.dc, 0), ODD.ac, 0x50)),
        'bad-symbol',
        /0x50/,
      ],
      [
        'EOB after ZRL',
        one(ODD, (b) => symbol(symbol(symbol(b, ODD.dc, 0), ODD.ac, 0xf0), ODD.ac, 0x00)),
        'bad-symbol',
        /EOB right after ZRL/,
      ],
      [
        'ZRL past 63',
        one(ODD, (b) => {
          symbol(b, ODD.dc, 0);
          for (let i = 0; i < 4; i++) symbol(b, ODD.ac, 0xf0);
        }),
        'coefficient-overflow',
        /passes coefficient 63/,
      ],
      [
        'run past 63',
        one(ODD, (b) => {
          symbol(b, ODD.dc, 0);
          for (let i = 0; i < 3; i++) symbol(b, ODD.ac, 0xf0); // k = 49
          for (let i = 0; i < 7; i++) symbol(b, ODD.ac, 0x11, 1); // k = 63
          symbol(b, ODD.ac, 0xf1, 1); // run 15 from k = 63
        }),
        'coefficient-overflow',
        /passes coefficient 63/,
      ],
      [
        'bad Huffman code',
        one(STD, (b) => b.put(0xffff, 16)),
        'bad-huffman-code',
        /bad Huffman code/,
      ],
    ];
    for (const [what, jpeg, kind, message] of cases) {
      const r = validateJpeg(jpeg);
      expect(kinds(r)[0], what).toBe(kind);
      expect(r.problems[0].message).toMatch(message);
      expect(r.problems[0].mcu).toBe(0);
      expect(r.mcuStatus[0]).toBe(MCU_DAMAGED);
      expect(r.verdict).toBe('rejected');
      expectConsistent(r);
    }
  });

  it('a DC value beyond the 8-bit range', () => {
    const b = new Bits();
    flatBlock(b, 2047);
    flatBlock(b, 2047); // DC = 4094
    const r = validateJpeg(greyJpeg(16, STD, 0, b.end()));
    expect(kinds(r)[0]).toBe('coefficient-overflow');
    expect(r.problems[0].message).toMatch(/DC value 4094/);
    expect(r.problems[0].mcu).toBe(1);
    expect(Array.from(r.mcuStatus)).toEqual([MCU_INTACT, MCU_DAMAGED]);
    expect(r.verdict).toBe('repairable');
  });

  it('padding that is not all 1-bits', () => {
    const b = new Bits();
    flatBlock(b, 5);
    const jpeg = greyJpeg(8, STD, 0, b.end(0));
    const r = validateJpeg(jpeg);
    expect(kinds(r)).toEqual(['bad-padding']);
    expect(r.intactMcus).toBe(1);
    expect(r.verdict).toBe('repairable');
    expect(djpegComplains(jpeg)).toBe(false); // stricter than djpeg
  });

  it('restart markers: wrong number, missing, spurious, lost intervals', () => {
    const good = greyJpeg(8 * 12, STD, 1, flatScan(12, true));
    const s = parseJpegStructure(good);
    const rsts: number[] = [];
    for (let i = s.headerEnd; i < good.length - 1; i++) {
      if (good[i] === 0xff && good[i + 1] >= 0xd0 && good[i + 1] <= 0xd7) rsts.push(i);
    }
    expect(rsts.length).toBe(11);

    // A corrupt number: the next marker follows on from the expected one.
    const wrong = good.slice();
    wrong[rsts[3] + 1] = 0xd6;
    let r = validateJpeg(wrong);
    expect(kinds(r)).toEqual(['wrong-rst']);
    expect(r.problems[0].offset).toBe(rsts[3]);
    expect(r.intactMcus).toBe(12);
    expect(djpegComplains(wrong)).toBe(true);

    // A deleted marker: two intervals with no RST between them, both still intact.
    const missing = concat(good.subarray(0, rsts[5]), good.subarray(rsts[5] + 2));
    r = validateJpeg(missing);
    expect(kinds(r)).toEqual(['missing-rst']);
    expect(r.problems[0].mcu).toBe(6);
    expect(r.intactMcus).toBe(12);
    expect(djpegComplains(missing)).toBe(true);

    // Intervals 4..6 cut out with their markers: the numbering says which are missing.
    const lost = concat(good.subarray(0, rsts[3] + 2), good.subarray(rsts[6] + 2));
    r = validateJpeg(lost);
    expect(kinds(r)).toEqual(['wrong-rst']);
    expect(r.problems[0].message).toMatch(/intervals 4\.\.6 .* missing/);
    expect(Array.from(r.mcuStatus.subarray(3, 8))).toEqual([0, 2, 2, 2, 0]);
    expect([r.intactMcus, r.missingMcus]).toEqual([9, 3]);

    // A marker inserted inside an interval's data splits it: that interval is damaged only.
    const spurious = concat(
      good.subarray(0, rsts[7] - 1),
      Uint8Array.of(0xff, 0xd2),
      good.subarray(rsts[7] - 1),
    );
    r = validateJpeg(spurious);
    expect(kinds(r)).toContain('wrong-rst');
    expect(r.mcuStatus[7]).toBe(MCU_DAMAGED);
    expect(r.intactMcus).toBe(11);
  });

  it('bad stuffing, extra data, early EOI, truncation, trailing data', () => {
    const good = greyJpeg(8 * 6, STD, 0, flatScan(6, false));
    const s = parseJpegStructure(good);
    const end = good.length - 2;

    const stuffing = concat(
      good.subarray(0, s.headerEnd + 1),
      Uint8Array.of(0xff, 0x12),
      good.subarray(s.headerEnd + 1),
    );
    let r = validateJpeg(stuffing);
    expect(kinds(r)).toContain('bad-stuffing');
    expect(r.problems.find((p) => p.kind === 'bad-stuffing')?.offset).toBe(s.headerEnd + 1);
    expect(djpegComplains(stuffing)).toBe(true);

    const extra = concat(good.subarray(0, end), Uint8Array.of(0x12, 0x34), good.subarray(end));
    r = validateJpeg(extra);
    expect(kinds(r)).toEqual(['extra-data']);
    expect(r.damagedMcus).toBe(6); // without restart markers the whole scan is one interval
    // djpeg misses these two bytes: its bit buffer had read them ahead and drops them unseen.
    expect(djpegComplains(extra)).toBe(false);

    const early = concat(good.subarray(0, s.headerEnd + 2), Uint8Array.of(0xff, 0xd9));
    r = validateJpeg(early);
    expect(kinds(r)).toContain('mcu-count');
    expect(r.eoiOffset).toBe(s.headerEnd + 2);

    const cut = good.subarray(0, s.headerEnd + 2);
    r = validateJpeg(cut);
    expect(kinds(r)).toContain('truncated');
    expect(r.problems[r.problems.length - 1].offset).toBe(cut.length);
    expect(r.eoiOffset).toBe(-1);

    const tail = concat(good, Uint8Array.of(1, 2, 3));
    r = validateJpeg(tail);
    expect(kinds(r)).toEqual(['trailing-data']);
    expect(r.problems[0]).toMatchObject({ offset: good.length, message: '3 bytes after EOI' });
    expect([r.verdict, r.intactMcus]).toEqual(['repairable', 6]);
    expect(djpegComplains(tail)).toBe(false);

    const headerOnly = concat(good.subarray(0, s.headerEnd), Uint8Array.of(0xff, 0xd9));
    r = validateJpeg(headerOnly);
    expect(r.verdict).toBe('rejected');
    expect(r.missingMcus).toBe(6);
    for (const x of [stuffing, extra, early, cut, tail, headerOnly])
      expectConsistent(validateJpeg(x));
  });

  it('header problems reject the stream with the reason and offset', () => {
    const good = cjpegWith(gradientImage(16, 16), ['-quality', '50']);
    const s = parseJpegStructure(good);
    const at = (marker: number): number => {
      const g = s.segments.find((x) => x.marker === marker);
      if (g === undefined) throw new Error(`no marker ${marker}`);
      return g.offset;
    };
    const patch = (offset: number, values: number[]): Uint8Array => {
      const out = good.slice();
      values.forEach((v, i) => (out[offset + i] = v));
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [patch(at(0xe0) + 9, [2]), /JFIF version 2/],
      // Three codes of length 1 (and none of length 2, three instead of five of length 3: the same count).
      [patch(at(0xc4) + 5, [3, 0, 3]), /over-subscribe/],
      [patch(at(0xda) + 12, [62]), /Se=62/],
      [patch(at(0xc0) + 11, [0x50]), /sampling factors 5x0/],
      [patch(at(0xdb), [0x12]), /expected a marker/],
      [new Uint8Array([0x47, 0x49, 0x46, 0x38]), /not a JPEG file/],
      [new Uint8Array(0), /empty/],
      [good.subarray(0, at(0xda) + 4), /SOS segment at offset \d+ needs/],
    ];
    for (const [jpeg, message] of cases) {
      const r = validateJpeg(jpeg);
      expect(r.verdict).toBe('rejected');
      expect(r.structure).toBeNull();
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0].kind).toBe('header');
      expect(r.problems[0].message).toMatch(message);
      expect(r.problems[0].offset).toBeLessThanOrEqual(jpeg.length);
      if (jpeg.length > 0) expect(djpegComplains(jpeg)).toBe(true);
    }
    const huge = patch(at(0xc0) + 5, [0xfd, 0xe8, 0xfd, 0xe8]);
    expect(() => validateJpeg(huge)).toThrow(CodecError);
    expect(() => validateJpeg(huge)).toThrow(/megapixels/);
  });
});

// ---------------------------------------------------------------------------------------------
// Corruption corpus.

type Mutation = 'bit-flip' | 'substitute' | 'insert' | 'delete' | 'truncate' | 'garbage-tail';
const MUTATIONS: Mutation[] = [
  'bit-flip',
  'substitute',
  'insert',
  'delete',
  'truncate',
  'garbage-tail',
];

function mutate(
  b: Uint8Array,
  m: Mutation,
  next: () => number,
  from = 0,
): { bytes: Uint8Array; at: number } {
  const at = from + (next() % (b.length - from));
  const junk = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => next() & 255);
  switch (m) {
    case 'bit-flip': {
      const out = b.slice();
      out[at] ^= 1 << (next() % 8);
      return { bytes: out, at };
    }
    case 'substitute': {
      const out = b.slice();
      out[at] = (out[at] + 1 + (next() % 255)) & 255;
      return { bytes: out, at };
    }
    case 'insert':
      return { bytes: concat(b.subarray(0, at), junk(1 + (next() % 4)), b.subarray(at)), at };
    case 'delete':
      return {
        bytes: concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + (next() % 4)))),
        at,
      };
    case 'truncate':
      return { bytes: b.subarray(0, at), at };
    case 'garbage-tail':
      return { bytes: concat(b, junk(1 + (next() % 64))), at: b.length };
  }
}

describe('corruption corpus against djpeg', () => {
  const sources = [
    lavfiImage('mandelbrot', 64, 48),
    lavfiImage('testsrc2', 48, 40),
    noisyGradientImage(37, 21, 3, 40),
  ];
  const options = [
    ['-sample', '2x2', '-restart', '1B'],
    ['-sample', '2x2'],
    ['-sample', '1x1', '-restart', '1'],
    ['-grayscale', '-restart', '3B'],
  ];
  const files = sources.flatMap((img) =>
    options.flatMap((o) =>
      [25, 80].map((q) => cjpegWith(img, ['-quality', String(q), '-dct', 'int', ...o])),
    ),
  );

  it('flags every stream djpeg warns about or rejects, and reports which it flags alone', () => {
    const next = mulberry32(2024);
    const tally = new Map<Mutation, { n: number; djpeg: number; ours: number }>();
    let missed = 0;
    for (let i = 0; i < 720; i++) {
      const base = files[i % files.length];
      const kind = MUTATIONS[Math.floor(i / files.length) % MUTATIONS.length];
      const { bytes } = mutate(base, kind, next);
      const r = validateJpeg(bytes);
      expectConsistent(r);
      const theirs = djpegComplains(bytes);
      const ours = r.verdict !== 'valid';
      if (theirs && !ours) missed++;
      const t = tally.get(kind) ?? { n: 0, djpeg: 0, ours: 0 };
      tally.set(kind, {
        n: t.n + 1,
        djpeg: t.djpeg + (theirs ? 1 : 0),
        ours: t.ours + (ours ? 1 : 0),
      });
    }
    expect(missed).toBe(0);
    // Garbage after EOI is silently ignored by djpeg; the validator always reports it.
    const tails = tally.get('garbage-tail');
    expect(tails?.ours).toBe(tails?.n);
    expect(tails?.djpeg).toBe(0);
    for (const [, t] of tally) expect(t.ours).toBeGreaterThanOrEqual(t.djpeg);
  });

  it('with a restart marker after every MCU, damage stays in the interval it hits', () => {
    const next = mulberry32(99);
    const canonical = sources.map((img) =>
      cjpegImage(img, { quality: 25, subsampling: '4:2:0', restartInterval: 1 }),
    );
    const originals = canonical.map((c) => decodeCoefficients(c));
    const trials = 600;
    let misjudged = 0;
    for (let t = 0; t < trials; t++) {
      const base = canonical[t % canonical.length];
      const original = originals[t % canonical.length];
      const kind = (['bit-flip', 'substitute', 'insert', 'delete'] as const)[t % 4];
      const { bytes } = mutate(base, kind, next, original.structure.headerEnd);
      const r = validateJpeg(bytes);
      expectConsistent(r);
      // One hit costs at most the interval it lands in and, when it swallows an RST marker,
      // the next one.
      expect(
        r.mcuCount - r.intactMcus,
        `${kind}: ${JSON.stringify(r.problems)}`,
      ).toBeLessThanOrEqual(2);
      // Every intact MCU but the one whose bytes were hit has its original coefficients. The
      // exception: bytes left after a deleted marker can pass for a whole clean interval.
      const coef = r.coefficients;
      if (coef === null) throw new Error('no coefficients');
      let changed = 0;
      for (let m = 0; m < r.mcuCount; m++) {
        if (r.mcuStatus[m] === MCU_INTACT && !sameMcu(original, coef.planes, m)) changed++;
      }
      if (changed > 1) misjudged++;
    }
    expect(misjudged).toBeLessThanOrEqual(trials / 200);
  });
});

function sameMcu(
  original: ReturnType<typeof decodeCoefficients>,
  planes: readonly Int16Array[],
  m: number,
): boolean {
  const mcusWide = original.geometry.mcusWide;
  const mx = m % mcusWide;
  const my = Math.floor(m / mcusWide);
  for (let ci = 0; ci < original.frame.components.length; ci++) {
    const c = original.frame.components[ci];
    const g = original.geometry.components[ci];
    for (let by = 0; by < c.v; by++) {
      for (let bx = 0; bx < c.h; bx++) {
        const blk = (my * c.v + by) * g.paddedBlocksWide + mx * c.h + bx;
        for (let k = 0; k < 64; k++) {
          if (original.planes[ci][blk * 64 + k] !== planes[ci][blk * 64 + k]) return false;
        }
      }
    }
  }
  return true;
}

it('missing status marks MCUs with no data at all', () => {
  const jpeg = cjpegWith(gradientImage(64, 16), [
    '-quality',
    '50',
    '-sample',
    '2x2',
    '-restart',
    '1B',
  ]);
  const s = parseJpegStructure(jpeg);
  // Cut after the second RST marker: MCUs 0 and 1 intact, 2 has no data... the rest missing.
  let rst = 0;
  let cut = 0;
  for (let i = s.headerEnd; i < jpeg.length - 1; i++) {
    if (jpeg[i] === 0xff && jpeg[i + 1] >= 0xd0 && jpeg[i + 1] <= 0xd7 && ++rst === 2) {
      cut = i + 2;
      break;
    }
  }
  const r = validateJpeg(jpeg.subarray(0, cut));
  expect(Array.from(r.mcuStatus)).toEqual([MCU_INTACT, MCU_INTACT, MCU_MISSING, MCU_MISSING]);
  expect(kinds(r)).toContain('truncated');
});
