/**
 * Validator and repair on a corruption corpus of real clips: bit flips, truncation, dropped
 * and duplicated NAL units and pictures, damaged headers, garbage. Every repaired stream must
 * decode with no error at all in two ffmpeg builds (the bundled 2018 one and the system one)
 * and validate as canonical.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AVC_LM_256X144,
  AvcNalType,
  avcEncode,
  avcProfile,
  avcProfileHeader,
  avcRepair,
  avcSameBytes,
  avcValidate,
  bundledFfmpegPath,
  type AvcHeader,
  type AvcIssueCode,
  type AvcRepairResult,
} from '../src/index.js';
import {
  SOURCES,
  SYSTEM_FFMPEG,
  concat,
  decodedFrames,
  ffmpegErrors,
  pictureUnitRanges,
  prng,
  units,
  withDuplicatedUnits,
  withoutUnits,
} from './avc-fixtures.js';

let clip: Uint8Array;
let cutClip: Uint8Array;
let header: AvcHeader;
const MBS = 144;

beforeAll(async () => {
  clip = await avcEncode(SOURCES.rotatingTestsrc);
  cutClip = await avcEncode(SOURCES.sceneCut);
  header = await avcProfileHeader(AVC_LM_256X144);
});

function codes(v: { issues: readonly { code: AvcIssueCode }[] }): Set<AvcIssueCode> {
  return new Set(v.issues.map((i) => i.code));
}

/** The repair contract: ok, and the output is clean for both decoders and for our validator. */
async function expectCleanRepair(stream: Uint8Array, minFrames: number): Promise<Uint8Array> {
  const r: AvcRepairResult = await avcRepair(stream, { header });
  if (!r.ok) throw new Error(`repair rejected: ${r.reason}`);
  expect(ffmpegErrors(bundledFfmpegPath(), r.stream)).toEqual([]);
  expect(ffmpegErrors(SYSTEM_FFMPEG, r.stream)).toEqual([]);
  const again = await avcValidate(r.stream, { header });
  expect(again.issues).toEqual([]);
  expect(again.verdict).toBe('valid');
  expect(r.stats.frames).toBeGreaterThanOrEqual(minFrames);
  expect(decodedFrames(SYSTEM_FFMPEG, r.stream)).toBe(r.stats.frames);
  return r.stream;
}

describe('clean clips', () => {
  it('are valid, with every frame decodable', async () => {
    for (const c of [clip, cutClip]) {
      const v = await avcValidate(c, { header });
      expect(v.verdict).toBe('valid');
      expect(v.issues).toEqual([]);
      expect([v.frames, v.decodedFrames, v.decodableFrames]).toEqual([15, 15, 15]);
      const r = await avcRepair(c, { header });
      expect(r.ok && !r.changed && avcSameBytes(r.stream, c)).toBe(true);
    }
  });
});

describe('damage that repair undoes exactly', () => {
  it('a damaged or missing header is restored', async () => {
    const sei = units(clip).find((u) => u.type === AvcNalType.sei)!;
    const flipped = clip.slice();
    flipped[sei.start + 40] ^= 0x10; // inside x264's option string
    const noHeader = clip.slice(header.bytes.length);
    for (const bad of [flipped, noHeader]) {
      const v = await avcValidate(bad, { header });
      expect(v.verdict).toBe('repairable');
      expect(codes(v)).toContain('header-mismatch');
      // ffmpeg does not notice a changed SEI; without any SPS it cannot decode at all.
      expect(v.decodeErrors.length === 0).toBe(bad === flipped);
      expect(v.decodableFrames).toBe(bad === flipped ? 15 : 0);
      const r = await avcRepair(bad, { header });
      expect(r.ok && avcSameBytes(r.stream, clip)).toBe(true);
    }
  });

  it('duplicated slices and a duplicated picture are dropped', async () => {
    const ranges = pictureUnitRanges(clip, MBS);
    const cases = [
      withDuplicatedUnits(clip, 300, 301),
      withDuplicatedUnits(clip, ranges[5][0], ranges[5][1]),
    ];
    for (const bad of cases) {
      const v = await avcValidate(bad, { header });
      expect(v.verdict).toBe('repairable');
      expect(codes(v)).toContain('slice-duplicate');
      const r = await avcRepair(bad, { header });
      expect(r.ok && avcSameBytes(r.stream, clip)).toBe(true);
    }
  });
});

describe('lost data', () => {
  it('a lost slice or run of slices is concealed; all 15 pictures stay', async () => {
    for (const [from, to] of [
      [700, 701],
      [1000, 1010],
    ]) {
      const bad = withoutUnits(clip, from, to);
      const v = await avcValidate(bad, { header });
      expect(v.verdict).toBe('repairable');
      expect(codes(v)).toContain('frame-incomplete');
      await expectCleanRepair(bad, 15);
    }
  });

  it('a lost picture is noticed from frame_num and comes back as a skip picture', async () => {
    const ranges = pictureUnitRanges(clip, MBS);
    // Picture 1 too: the pictures after it use up to three references, which must all exist.
    for (const pic of [1, 7]) {
      const bad = withoutUnits(clip, ranges[pic][0], ranges[pic][1]);
      const v = await avcValidate(bad, { header });
      expect(v.verdict).toBe('repairable');
      expect(codes(v)).toContain('frame-num');
      expect(v.frames).toBe(14);
      const fixed = await expectCleanRepair(bad, 15);
      const r = await avcRepair(bad, { header });
      expect(r.ok && [r.stats.frames, r.stats.skipFrames, r.stats.droppedFrames]).toEqual([
        15, 1, 0,
      ]);
      // Everything but the lost picture is the original, byte for byte.
      expect(
        avcSameBytes(
          fixed.subarray(0, units(fixed)[ranges[pic][0]].offset),
          clip.subarray(0, units(clip)[ranges[pic][0]].offset),
        ),
      ).toBe(true);
      expect(
        avcSameBytes(
          fixed.subarray(units(fixed)[ranges[pic][1]].offset),
          clip.subarray(units(clip)[ranges[pic][1]].offset),
        ),
      ).toBe(true);
    }
  });

  it('truncation: the partial last picture is completed, decodable frames are counted', async () => {
    const ranges = pictureUnitRanges(clip, MBS);
    const u = units(clip);
    for (const [pic, frac] of [
      [3, 0.5],
      [10, 0.1],
      [14, 0.95],
    ]) {
      const unit = u[Math.floor(ranges[pic][0] + frac * MBS)];
      const cutAt = unit.start + Math.max(1, Math.floor((unit.end - unit.start) / 2));
      const bad = clip.slice(0, cutAt);
      const v = await avcValidate(bad, { header });
      expect(v.verdict).not.toBe('valid');
      expect(codes(v)).toContain('frame-incomplete');
      expect(v.frames).toBe(pic + 1);
      expect(v.decodableFrames).toBeLessThanOrEqual(pic + 1);
      await expectCleanRepair(bad, pic);
    }
  });
});

describe('bit flips, garbage and stray units', () => {
  it('every flip ffmpeg notices is flagged, and every repair decodes with no error', async () => {
    const rnd = prng(7);
    const ffmpeg = bundledFfmpegPath();
    let flaggedByFfmpeg = 0;
    let flagged = 0;
    for (let t = 0; t < 14; t++) {
      const bad = clip.slice();
      const at = header.bytes.length + Math.floor(rnd() * (clip.length - header.bytes.length));
      bad[at] ^= 1 << Math.floor(rnd() * 8);
      const v = await avcValidate(bad, { header });
      const peer =
        ffmpegErrors(ffmpeg, bad).length > 0 || ffmpegErrors(SYSTEM_FFMPEG, bad).length > 0;
      if (peer) {
        flaggedByFfmpeg++;
        expect(v.verdict, `flip at byte ${at}`).not.toBe('valid');
      }
      if (v.verdict === 'valid') continue;
      flagged++;
      expect(v.verdict, `flip at byte ${at}: ${v.reason}`).toBe('repairable');
      await expectCleanRepair(bad, 14);
    }
    // The corpus must exercise both sides: flips ffmpeg sees, and flips it does not.
    expect(flaggedByFfmpeg).toBeGreaterThan(2);
    expect(flagged).toBeGreaterThanOrEqual(flaggedByFfmpeg);
  });

  it('garbage units and a stray SEI between slices are dropped', async () => {
    const u = units(clip);
    const k = u[500].offset;
    const junk = Uint8Array.from([
      0, 0, 1, 0x41, 0xff, 0x13, 0x77, 0x80, 0, 0, 1, 0x06, 5, 1, 0x80,
    ]);
    const bad = concat(clip.subarray(0, k), junk, clip.subarray(k));
    const v = await avcValidate(bad, { header });
    expect(v.verdict).toBe('repairable');
    expect(codes(v)).toContain('nal-type');
    const fixed = await expectCleanRepair(bad, 15);
    expect(avcSameBytes(fixed, clip)).toBe(true);
  });

  it('a scene-cut clip keeps its second IDR picture (and its repeated SPS/PPS) through repair', async () => {
    const bad = withoutUnits(cutClip, 900, 905);
    const fixed = await expectCleanRepair(bad, 15);
    expect(units(fixed).filter((x) => x.type === AvcNalType.sps)).toHaveLength(2);
  });
});

describe('rejection', () => {
  it('rejects what holds nothing usable, with the reason', async () => {
    const rnd = prng(3);
    const noise = Uint8Array.from({ length: 5000 }, () => 1 + Math.floor(rnd() * 255));
    const ranges = pictureUnitRanges(clip, MBS);
    const noIdr = withoutUnits(clip, ranges[0][0], ranges[0][1]);
    const other = await avcEncode(SOURCES.mandelbrot, { profile: avcProfile('avc-lm-64x48-8f') });
    const cases: [Uint8Array, RegExp][] = [
      [noise, /no start code/],
      [noIdr, /no intact IDR slice/],
      [other, /the stream is 64x48; profile avc-lm-256x144 is 256x144/],
      [clip.slice(0, header.bytes.length + 800), /too damaged/],
    ];
    for (const [bad, why] of cases) {
      const v = await avcValidate(bad, { header });
      expect(v.verdict, String(why)).toBe('rejected');
      expect(v.reason).toMatch(why);
      const r = await avcRepair(bad, { header });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(why);
    }
  });
});
