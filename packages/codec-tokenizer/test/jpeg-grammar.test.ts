import { describe, expect, it } from 'vitest';
import { CodecError, encodeScanData, JpegGrammar, validateJpeg } from '../src/index.js';
import {
  cjpeg,
  cjpegStructure,
  concat,
  djpeg,
  makePpm,
  mutate,
  MUTATION_KINDS,
  prng,
  scanStart,
  type CjpegOptions,
  type ImageKind,
} from './grammar-repair-fixtures.js';

interface Case {
  readonly w: number;
  readonly h: number;
  readonly kind: ImageKind;
  readonly o: CjpegOptions;
}

function realCases(): Case[] {
  const cases: Case[] = [];
  const sizes: [number, number][] = [
    [8, 8],
    [16, 16],
    [17, 9],
    [33, 47],
    [64, 64],
  ];
  const kinds: ImageKind[] = ['noise', 'gradient', 'flat', 'blocks', 'extremes'];
  let n = 0;
  for (const [w, h] of sizes) {
    for (const quality of [1, 25, 75, 100]) {
      for (const restart of [0, 1, 4]) {
        for (const sampling of ['2x2', '1x1', 'gray'] as const) {
          cases.push({ w, h, kind: kinds[n++ % kinds.length], o: { quality, sampling, restart } });
        }
      }
    }
  }
  return cases;
}

/** Feed every byte, checking each was in the mask just before; returns the grammar. */
function feedAll(g: JpegGrammar, bytes: Uint8Array, checkUncachedEvery = 0): JpegGrammar {
  for (let i = 0; i < bytes.length; i++) {
    const mask = g.allowedBytes();
    if (mask[bytes[i]] !== 1) throw new Error(`byte ${i} (0x${bytes[i].toString(16)}) not in mask`);
    if (checkUncachedEvery > 0 && i % checkUncachedEvery === 0) {
      expect(Array.from(mask)).toEqual(Array.from(g.allowedBytesUncached()));
    }
    g.accept(bytes[i]);
  }
  return g;
}

describe('JpegGrammar on real canonical files', () => {
  it('accepts every cjpeg file byte by byte and completes exactly at EOI', () => {
    for (const c of realCases()) {
      const jpeg = cjpeg(makePpm(c.w, c.h, c.kind, c.w * 7 + c.o.quality), c.o);
      const s = cjpegStructure(c.w, c.h, c.o);
      const start = scanStart(jpeg);
      const g = JpegGrammar.forStructure(s);
      const scan = jpeg.subarray(start);
      // All but the last byte: not complete yet; the last (EOI's D9) completes.
      feedAll(g, scan.subarray(0, scan.length - 1), 7);
      expect(g.complete).toBe(false);
      g.accept(scan[scan.length - 1]);
      expect(g.complete).toBe(true);
      expect(g.mcuIndex).toBe(g.mcuCount);
      expect(Array.from(g.allowedBytes()).every((v) => v === 0)).toBe(true);
    }
  });

  it('with includeHeader expects the exact header bytes first', () => {
    const o: CjpegOptions = { quality: 25, sampling: '2x2', restart: 1 };
    const jpeg = cjpeg(makePpm(32, 32, 'gradient'), o);
    const header = jpeg.subarray(0, scanStart(jpeg));
    const g = JpegGrammar.forStructure(cjpegStructure(32, 32, o), { includeHeader: true, header });
    const m = g.allowedBytes();
    expect(m[0xff]).toBe(1);
    expect(m.reduce((a, b) => a + b, 0)).toBe(1);
    feedAll(g, jpeg);
    expect(g.complete).toBe(true);
    const other = JpegGrammar.forStructure(cjpegStructure(32, 32, o), {
      includeHeader: true,
      header,
    });
    expect(() => other.accept(0x00)).toThrow(CodecError);
  });

  it('rejects a wrong byte with a CodecError and leaves the state unchanged', () => {
    const o: CjpegOptions = { quality: 50, sampling: '2x2', restart: 1 };
    const jpeg = cjpeg(makePpm(32, 16, 'noise'), o);
    const scan = jpeg.subarray(scanStart(jpeg));
    const g = JpegGrammar.forStructure(cjpegStructure(32, 16, o));
    let rejected = 0;
    for (let i = 0; i < scan.length; i++) {
      const mask = g.allowedBytes().slice();
      for (let v = 0; v < 256; v += 17) {
        if (mask[v] === 0) {
          expect(() => g.accept(v)).toThrow(CodecError);
          rejected++;
        }
      }
      g.accept(scan[i]);
    }
    expect(rejected).toBeGreaterThan(0);
    expect(g.complete).toBe(true);
  });

  it('acceptsAll agrees with byte-by-byte acceptance and does not change the state', () => {
    const o: CjpegOptions = { quality: 25, sampling: '2x2', restart: 4 };
    const jpeg = cjpeg(makePpm(48, 48, 'noise', 3), o);
    const scan = jpeg.subarray(scanStart(jpeg));
    const g = JpegGrammar.forStructure(cjpegStructure(48, 48, o));
    const rnd = prng(5);
    for (let i = 0; i < scan.length; i++) {
      const len = 1 + Math.floor(rnd() * 4);
      const real = scan.subarray(i, i + len);
      expect(g.acceptsAll(real)).toBe(true);
      const fake = real.slice();
      fake[fake.length - 1] ^= 1 + Math.floor(rnd() * 255);
      const probe = g.clone();
      let expected = true;
      for (const b of fake) {
        if (probe.allowedBytes()[b] !== 1) {
          expected = false;
          break;
        }
        probe.accept(b);
      }
      expect(g.acceptsAll(fake)).toBe(expected);
      g.accept(scan[i]);
    }
    expect(g.complete).toBe(true);
  });

  it('clones are independent', () => {
    const o: CjpegOptions = { quality: 25, sampling: '2x2', restart: 1 };
    const jpeg = cjpeg(makePpm(32, 32, 'gradient'), o);
    const scan = jpeg.subarray(scanStart(jpeg));
    const g = JpegGrammar.forStructure(cjpegStructure(32, 32, o));
    feedAll(g, scan.subarray(0, 20));
    const c = g.clone();
    feedAll(c, scan.subarray(20));
    expect(c.complete).toBe(true);
    expect(g.complete).toBe(false);
    expect(g.mcuIndex).toBeLessThan(c.mcuIndex);
    feedAll(g, scan.subarray(20));
    expect(g.complete).toBe(true);
  });

  it('refuses structures that cannot code a canonical baseline image', () => {
    const s = cjpegStructure(16, 16, { quality: 25, sampling: '2x2', restart: 0 });
    expect(() =>
      JpegGrammar.forStructure({ ...s, frame: { ...s.frame, sofMarker: 0xc2 } }),
    ).toThrow(CodecError);
    expect(() => JpegGrammar.forStructure({ ...s, frame: { ...s.frame, precision: 12 } })).toThrow(
      CodecError,
    );
    expect(() => JpegGrammar.forStructure({ ...s, scan: s.scan.slice(0, 1) })).toThrow(CodecError);
    expect(() =>
      JpegGrammar.forStructure({
        ...s,
        tables: { ...s.tables, acHuffman: [s.tables.acHuffman[0]] },
      }),
    ).toThrow(CodecError);
    // Code lengths that overflow (more codes of length 1 than fit).
    const bad = { bits: [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], values: [0, 1, 2] };
    expect(() =>
      JpegGrammar.forStructure({ ...s, tables: { ...s.tables, dcHuffman: [bad, bad] } }),
    ).toThrow(CodecError);
    expect(() => JpegGrammar.forStructure(s, { includeHeader: true })).toThrow(CodecError);
  });
});

/** Random walk: uniformly among allowed bytes until complete. */
function randomWalk(g: JpegGrammar, rnd: () => number, checkUncached: boolean): Uint8Array {
  const out: number[] = [];
  while (!g.complete) {
    const mask = g.allowedBytes();
    const allowed: number[] = [];
    for (let v = 0; v < 256; v++) if (mask[v]) allowed.push(v);
    if (allowed.length === 0) throw new Error(`dead end after ${out.length} bytes`);
    if (checkUncached) expect(Array.from(mask)).toEqual(Array.from(g.allowedBytesUncached()));
    const v = allowed[Math.floor(rnd() * allowed.length)];
    g.accept(v);
    out.push(v);
    if (out.length > 1 << 20) throw new Error('walk does not terminate');
  }
  return Uint8Array.from(out);
}

describe('JpegGrammar random walks', () => {
  const configs: { w: number; h: number; o: CjpegOptions }[] = [
    { w: 16, h: 16, o: { quality: 25, sampling: '2x2', restart: 0 } },
    { w: 8, h: 8, o: { quality: 25, sampling: '1x1', restart: 1 } },
    { w: 24, h: 8, o: { quality: 75, sampling: '2x2', restart: 1 } },
    { w: 16, h: 24, o: { quality: 50, sampling: 'gray', restart: 4 } },
    { w: 8, h: 16, o: { quality: 10, sampling: 'gray', restart: 0 } },
    { w: 17, h: 9, o: { quality: 90, sampling: '2x2', restart: 4 } },
  ];

  it('every completed walk decodes in djpeg with no warning', () => {
    const rnd = prng(12345);
    const headers = configs.map((c) => {
      const jpeg = cjpeg(makePpm(c.w, c.h, 'gradient'), c.o);
      return jpeg.subarray(0, scanStart(jpeg));
    });
    let walks = 0;
    for (let rep = 0; rep < 340; rep++) {
      for (const [ci, c] of configs.entries()) {
        const header = headers[ci];
        const g = JpegGrammar.forStructure(cjpegStructure(c.w, c.h, c.o));
        const body = randomWalk(g, rnd, rep % 85 === 0);
        const file = concat(header, body);
        const v = validateJpeg(file);
        if (v.verdict !== 'valid') {
          throw new Error(`walk ${walks}: validator says ${v.verdict}: ${v.problems[0]?.message}`);
        }
        const d = djpeg(file);
        if (d.status !== 0 || d.stderr !== '') {
          throw new Error(`walk ${walks} (${JSON.stringify(c)}): djpeg ${d.status} ${d.stderr}`);
        }
        walks++;
      }
    }
    expect(walks).toBe(2040);
  });
});

/** The grammar's view of a whole scan (bytes after the header): accepted prefix and completion. */
function grammarRun(g: JpegGrammar, scan: Uint8Array): { accepted: number; complete: boolean } {
  let i = 0;
  for (; i < scan.length; i++) {
    if (g.allowedBytes()[scan[i]] !== 1) break;
    g.accept(scan[i]);
  }
  return { accepted: i, complete: i === scan.length && g.complete };
}

/** Valid for the validator, and exactly what a baseline encoder writes for its coefficients. */
function validAndCanonical(file: Uint8Array): boolean {
  const r = validateJpeg(file);
  if (r.verdict !== 'valid' || r.structure === null || r.coefficients === null) return false;
  const s = r.structure;
  const scan = encodeScanData(r.coefficients, s.scan, s.tables, s.restartInterval);
  const expected = concat(file.subarray(0, s.headerEnd), scan, Uint8Array.of(0xff, 0xd9));
  return expected.length === file.length && expected.every((b, i) => b === file[i]);
}

describe('JpegGrammar agrees with the validator', () => {
  it('on mutations of real files and of random walks: complete iff valid and canonical', () => {
    const rnd = prng(777);
    const configs: { w: number; h: number; o: CjpegOptions }[] = [
      { w: 16, h: 16, o: { quality: 25, sampling: '2x2', restart: 0 } },
      { w: 32, h: 16, o: { quality: 50, sampling: '2x2', restart: 1 } },
      { w: 24, h: 24, o: { quality: 90, sampling: 'gray', restart: 4 } },
      { w: 40, h: 8, o: { quality: 75, sampling: '1x1', restart: 2 } },
    ];
    const tally = { agree: 0, completeValid: 0, walksExtended: 0 };
    for (const c of configs) {
      const s = cjpegStructure(c.w, c.h, c.o);
      const real = cjpeg(makePpm(c.w, c.h, 'noise', c.w), c.o);
      const start = scanStart(real);
      const header = real.subarray(0, start);
      // Sources: the real file and random-walk files (DC values near the limits, long runs).
      const sources = [real];
      for (let i = 0; i < 4; i++) {
        sources.push(concat(header, randomWalk(JpegGrammar.forStructure(s), rnd, false)));
      }
      for (const src of sources) {
        for (let i = 0; i < 150; i++) {
          const kind = MUTATION_KINDS[i % MUTATION_KINDS.length];
          const m = mutate(src, kind, rnd, start);
          const g = JpegGrammar.forStructure(s);
          const run = grammarRun(g, m.subarray(start));
          const canonical = validAndCanonical(m);
          if (run.complete !== canonical) {
            throw new Error(
              `${kind} of ${JSON.stringify(c)}: grammar complete=${run.complete} but validator ` +
                `valid+canonical=${canonical} (${validateJpeg(m).problems[0]?.message ?? 'no problem'})`,
            );
          }
          tally.agree++;
          if (canonical) tally.completeValid++;
          // Any accepted prefix extends (by a random walk) to a valid canonical file.
          if (!run.complete && i % 10 === 0) {
            const rest = randomWalk(g, rnd, false);
            const file = concat(m.subarray(0, start + run.accepted), rest);
            expect(validAndCanonical(file)).toBe(true);
            tally.walksExtended++;
          }
        }
      }
    }
    expect(tally.agree).toBe(configs.length * 5 * 150);
    // Some mutations (e.g. a flipped magnitude bit) leave a valid canonical stream.
    expect(tally.completeValid).toBeGreaterThan(10);
    expect(tally.walksExtended).toBeGreaterThan(100);
  });
});
