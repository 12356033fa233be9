import jpegJs from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import {
  canonicalHeader,
  CodecError,
  getProfile,
  JpegGrammar,
  repairJpeg,
  repairScan,
  validateJpeg,
  type CoefficientImage,
  type ValidationReport,
} from '../src/index.js';
import {
  cjpeg,
  concat,
  djpeg,
  makePpm,
  mutate,
  MUTATION_KINDS,
  prng,
  scanStart,
  type CjpegOptions,
  type ImageKind,
  type MutationKind,
} from './grammar-repair-fixtures.js';

/** The 64 coefficients of every block of MCU m, in coding order, concatenated. */
function mcuBlocks(report: ValidationReport, image: CoefficientImage, m: number): number[] {
  const s = report.structure;
  if (s === null) throw new Error('no structure');
  const out: number[] = [];
  const g = image.geometry;
  if (s.scan.length === 1) {
    const ci = s.scan[0].componentIndex;
    const cg = g.components[ci];
    const off = (Math.floor(m / cg.blocksWide) * cg.paddedBlocksWide + (m % cg.blocksWide)) * 64;
    out.push(...image.planes[ci].subarray(off, off + 64));
    return out;
  }
  const mx = m % g.mcusWide;
  const my = Math.floor(m / g.mcusWide);
  for (const sc of s.scan) {
    const { h, v } = s.frame.components[sc.componentIndex];
    const line = g.components[sc.componentIndex].paddedBlocksWide;
    for (let y = 0; y < v; y++) {
      for (let x = 0; x < h; x++) {
        const off = ((my * v + y) * line + mx * h + x) * 64;
        out.push(...image.planes[sc.componentIndex].subarray(off, off + 64));
      }
    }
  }
  return out;
}

function expectDecodesCleanly(file: Uint8Array, width: number, height: number, what: string): void {
  const d = djpeg(file);
  if (d.status !== 0 || d.stderr !== '') throw new Error(`${what}: djpeg ${d.status}: ${d.stderr}`);
  const img = jpegJs.decode(file, { useTArray: true, formatAsRGBA: false });
  expect([img.width, img.height], what).toEqual([width, height]);
}

interface Source {
  readonly w: number;
  readonly h: number;
  readonly kind: ImageKind;
  readonly o: CjpegOptions;
}

const SOURCES: Source[] = [
  { w: 64, h: 48, kind: 'gradient', o: { quality: 25, sampling: '2x2', restart: 1 } },
  { w: 64, h: 48, kind: 'noise', o: { quality: 75, sampling: '2x2', restart: 0 } },
  { w: 33, h: 47, kind: 'blocks', o: { quality: 50, sampling: '2x2', restart: 4 } },
  { w: 40, h: 24, kind: 'extremes', o: { quality: 100, sampling: '1x1', restart: 3 } },
  { w: 24, h: 40, kind: 'noise', o: { quality: 90, sampling: 'gray', restart: 0 } },
  { w: 48, h: 16, kind: 'gradient', o: { quality: 10, sampling: 'gray', restart: 2 } },
];

describe('repairJpeg on a corruption corpus', () => {
  it('repairs every repairable file into one djpeg and jpeg-js decode without warnings, keeping intact MCUs', () => {
    const rnd = prng(4242);
    const seen: Record<string, number> = { valid: 0, repairable: 0, rejected: 0 };
    const byKind = new Map<MutationKind, number>();
    for (const src of SOURCES) {
      const original = cjpeg(makePpm(src.w, src.h, src.kind, src.w + src.h), src.o);
      for (let i = 0; i < 48; i++) {
        const kind = MUTATION_KINDS[i % MUTATION_KINDS.length];
        const bad = mutate(original, kind, rnd);
        const what = `${kind} #${i} of ${JSON.stringify(src)}`;
        const report = validateJpeg(bad);
        seen[report.verdict]++;
        if (report.verdict === 'rejected') {
          expect(() => repairJpeg(bad), what).toThrow(CodecError);
          continue;
        }
        const fill = i % 2 === 0 ? 'dc' : 'neutral';
        const r = repairJpeg(bad, { fill });
        expectDecodesCleanly(r.bytes, src.w, src.h, what);
        const after = validateJpeg(r.bytes);
        expect(after.verdict, what).toBe('valid');
        if (report.verdict === 'valid') {
          expect(r.changed).toBe(false);
          expect(r.bytes).toBe(bad);
          continue;
        }
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        expect(r.changed).toBe(true);
        expect(r.keptMcus + r.repairedMcus).toBe(report.mcuCount);
        expect(r.keptMcus).toBe(report.intactMcus);
        // Never invents a header: the input's own header bytes come first.
        const headerEnd = (report.structure as { headerEnd: number }).headerEnd;
        expect(r.bytes.subarray(0, headerEnd)).toEqual(bad.subarray(0, headerEnd));
        // Every intact MCU is kept coefficient for coefficient; replaced ones are flat.
        const before = report.coefficients as CoefficientImage;
        const kept = after.coefficients as CoefficientImage;
        for (let m = 0; m < report.mcuCount; m++) {
          const got = mcuBlocks(after, kept, m);
          if (report.mcuStatus[m] === 0) {
            expect(got, `${what} MCU ${m}`).toEqual(mcuBlocks(report, before, m));
          } else {
            for (let b = 0; b < got.length; b += 64) {
              expect(got.slice(b + 1, b + 64).every((v) => v === 0)).toBe(true);
              if (fill === 'neutral') expect(got[b]).toBe(0);
            }
          }
        }
        // The repaired scan is canonical: the grammar accepts it through EOI.
        const s = report.structure;
        if (s !== null) {
          const g = JpegGrammar.forStructure(s);
          expect(g.acceptsAll(r.bytes.subarray(r.scanOffset)), what).toBe(true);
        }
      }
    }
    expect(seen.repairable).toBeGreaterThan(150);
    for (const kind of MUTATION_KINDS) expect(byKind.get(kind) ?? 0, kind).toBeGreaterThan(0);
  });

  it('keeps a valid file byte for byte', () => {
    const o: CjpegOptions = { quality: 25, sampling: '2x2', restart: 1 };
    const jpeg = cjpeg(makePpm(32, 32, 'gradient'), o);
    const r = repairJpeg(jpeg);
    expect(r.changed).toBe(false);
    expect(r.bytes).toEqual(jpeg);
    expect(r.repairedMcus).toBe(0);
  });

  it('re-codes intact restart intervals to the same bytes', () => {
    // Truncate inside the last interval: all earlier intervals must come out byte-identical.
    const o: CjpegOptions = { quality: 50, sampling: '2x2', restart: 2 };
    const jpeg = cjpeg(makePpm(64, 64, 'noise', 9), o);
    let lastRst = -1;
    for (let i = scanStart(jpeg); i + 1 < jpeg.length; i++) {
      if (jpeg[i] === 0xff && jpeg[i + 1] >= 0xd0 && jpeg[i + 1] <= 0xd7) lastRst = i;
    }
    const cut = jpeg.subarray(0, lastRst + 5);
    const r = repairJpeg(cut);
    expect(r.report.verdict).toBe('repairable');
    expect(r.repairedMcus).toBe(2);
    expect(r.bytes.subarray(0, lastRst + 2)).toEqual(jpeg.subarray(0, lastRst + 2));
  });

  it('fills replaced MCUs with the last intact DC level and keeps DC differences codable', () => {
    // Extreme DC values either side of a truncation without restart markers.
    const o: CjpegOptions = { quality: 100, sampling: 'gray', restart: 0 };
    const jpeg = cjpeg(makePpm(64, 8, 'blocks'), o);
    const cut = jpeg.subarray(0, scanStart(jpeg) + 40);
    const r = repairJpeg(cut, { fill: 'dc' });
    expectDecodesCleanly(r.bytes, 64, 8, 'dc fill');
    const before = r.report.coefficients as CoefficientImage;
    const after = validateJpeg(r.bytes).coefficients as CoefficientImage;
    const lastIntact = r.report.mcuStatus.lastIndexOf(0);
    expect(lastIntact).toBeGreaterThanOrEqual(0);
    const dc = before.planes[0][lastIntact * 64];
    expect(dc).not.toBe(0);
    for (let m = lastIntact + 1; m < r.report.mcuCount; m++)
      expect(after.planes[0][m * 64]).toBe(dc);
  });

  it('rejects files whose header is unusable, with the reason', () => {
    const o: CjpegOptions = { quality: 25, sampling: '2x2', restart: 1 };
    const jpeg = cjpeg(makePpm(32, 32, 'gradient'), o);
    const start = scanStart(jpeg);
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(0xff, 0xd8),
      jpeg.subarray(0, start - 3), // cut inside SOS
      jpeg.subarray(100), // no SOI
      new TextEncoder().encode('not a jpeg at all'),
    ];
    // Only the header: no MCU at all is intact.
    cases.push(jpeg.subarray(0, start));
    for (const c of cases) {
      expect(validateJpeg(c).verdict).toBe('rejected');
      expect(() => repairJpeg(c)).toThrow(/cannot repair/);
    }
  });

  it('repairs headerless token streams with the header from the profile', () => {
    const profile = getProfile('jpeglm-32-q75');
    const header = canonicalHeader(profile);
    const o: CjpegOptions = { quality: 75, sampling: '2x2', restart: 1 };
    const jpeg = cjpeg(makePpm(32, 32, 'noise', 5), o);
    expect(jpeg.subarray(0, scanStart(jpeg))).toEqual(header);
    const body = jpeg.subarray(scanStart(jpeg));
    const rnd = prng(99);
    let repaired = 0;
    for (let i = 0; i < 40; i++) {
      // An LM stopped early, or wrote a wrong byte: truncations and substitutions of the body.
      const cutAt = 1 + Math.floor(rnd() * (body.length - 2));
      const bad = i % 2 === 0 ? body.subarray(0, cutAt) : mutate(body, 'substitute', rnd, 0);
      if (validateJpeg(concat(header, bad)).intactMcus === 0) {
        // Cut or hit inside the first MCU: nothing to keep, so nothing to repair.
        expect(() => repairScan(bad, header)).toThrow(/cannot repair/);
        continue;
      }
      repaired++;
      const r = repairScan(bad, header);
      expect(r.bytes.subarray(0, header.length)).toEqual(header);
      expect(r.scan).toEqual(r.bytes.subarray(header.length));
      expectDecodesCleanly(r.bytes, 32, 32, `headerless #${i}`);
      const g = JpegGrammar.forStructure(validateJpeg(r.bytes).structure as never);
      expect(g.acceptsAll(r.scan)).toBe(true);
    }
    expect(repaired).toBeGreaterThan(30);
  });

  it('refuses an unknown fill mode and frames above the megapixel limit', () => {
    const jpeg = cjpeg(makePpm(16, 16, 'flat'), { quality: 25, sampling: '2x2', restart: 0 });
    expect(() => repairJpeg(jpeg, { fill: 'purple' as never })).toThrow(CodecError);
    expect(() => repairJpeg(jpeg.subarray(0, 400), { maxMegapixels: 0.0001 })).toThrow(
      expect.objectContaining({ code: 'too-large' }),
    );
  });
});

describe('validator, repairer and grammar under fuzzing', () => {
  it('thousands of mutated inputs: only CodecErrors, repaired output always validates', () => {
    const rnd = prng(2024);
    const bases = [
      cjpeg(makePpm(32, 32, 'noise', 1), { quality: 50, sampling: '2x2', restart: 1 }),
      cjpeg(makePpm(48, 32, 'gradient', 2), { quality: 25, sampling: '2x2', restart: 0 }),
      cjpeg(makePpm(24, 24, 'blocks', 3), { quality: 90, sampling: 'gray', restart: 3 }),
    ];
    const counts = { inputs: 0, repaired: 0, rejected: 0, djpegChecked: 0 };
    for (let i = 0; i < 3000; i++) {
      const base = bases[i % bases.length];
      // One in four mutations may hit the header as well.
      const from = i % 4 === 0 ? 0 : scanStart(base);
      let m = mutate(base, MUTATION_KINDS[Math.floor(rnd() * MUTATION_KINDS.length)], rnd, from);
      if (i % 3 === 0)
        m = mutate(m, MUTATION_KINDS[Math.floor(rnd() * MUTATION_KINDS.length)], rnd, from);
      counts.inputs++;
      const report = validateJpeg(m);
      let repaired: Uint8Array | null = null;
      try {
        const r = repairJpeg(m);
        repaired = r.bytes;
        if (r.changed) counts.repaired++;
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        // Refused: rejected by the validator, or (mutated header) tables that lack EOB or a DC
        // category a replacement block needs.
        if (report.verdict !== 'rejected') expect(e.message).toMatch(/cannot code the replacement/);
        counts.rejected++;
      }
      if (repaired !== null) {
        expect(validateJpeg(repaired).verdict).toBe('valid');
        if (i % 25 === 0) {
          const d = djpeg(repaired);
          expect(d.status, d.stderr).toBe(0);
          expect(d.stderr).toBe('');
          counts.djpegChecked++;
        }
      }
      // The grammar of the base structure on the mutated scan: never throws while it follows the mask.
      const s = validateJpeg(base).structure;
      if (s !== null) {
        const g = JpegGrammar.forStructure(s);
        const scan = m.subarray(Math.min(m.length, s.headerEnd));
        const all = g.acceptsAll(scan);
        let j = 0;
        for (; j < scan.length && g.allowedBytes()[scan[j]] === 1; j++) g.accept(scan[j]);
        expect(all).toBe(j === scan.length);
      }
    }
    expect(counts.repaired).toBeGreaterThan(1000);
    expect(counts.rejected).toBeGreaterThan(10);
    expect(counts.djpegChecked).toBeGreaterThan(50);
  });
});
