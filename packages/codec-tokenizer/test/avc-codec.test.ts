import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AVC_LM_256X144,
  AvcBitReader,
  AvcBitWriter,
  AvcNalType,
  CodecError,
  FFMPEG_ENV,
  avcAnalyze,
  avcEncode,
  avcHeaderFromStream,
  avcParsePps,
  avcParseSliceHeader,
  avcParseSps,
  avcProfile,
  avcProfileHeader,
  avcRewriteSliceHeader,
  avcSameBytes,
  avcUnitBytes,
  avcUnitRbsp,
  avcWriteSliceHeader,
  bundledFfmpegPath,
  makeAvcProfile,
  resolveFfmpeg,
  type AvcHeader,
  type AvcSliceHeader,
} from '../src/index.js';
import { SOURCES, SYSTEM_FFMPEG, decodedFrames, ffmpegErrors, units } from './avc-fixtures.js';

let clip: Uint8Array;
let header: AvcHeader;

beforeAll(async () => {
  clip = await avcEncode(SOURCES.rotatingTestsrc);
  header = await avcProfileHeader(AVC_LM_256X144);
});

interface ParsedSlice {
  readonly header: AvcSliceHeader;
  readonly rbsp: Uint8Array;
}

function slicesOf(stream: Uint8Array, h: AvcHeader): ParsedSlice[] {
  const out: ParsedSlice[] = [];
  for (const u of units(stream)) {
    if (u.type !== AvcNalType.idrSlice && u.type !== AvcNalType.nonIdrSlice) continue;
    const rbsp = avcUnitRbsp(stream, u);
    out.push({ header: avcParseSliceHeader(rbsp, u.type, u.refIdc, h.sps, h.pps), rbsp });
  }
  return out;
}

describe('ffmpeg location', () => {
  it('prefers an explicit path, then $JPEGLM_FFMPEG, then the bundled binary', () => {
    const saved = process.env[FFMPEG_ENV];
    try {
      delete process.env[FFMPEG_ENV];
      expect(resolveFfmpeg()).toBe(bundledFfmpegPath());
      expect(bundledFfmpegPath()).toMatch(/@ffmpeg-installer/);
      process.env[FFMPEG_ENV] = SYSTEM_FFMPEG;
      expect(resolveFfmpeg()).toBe(SYSTEM_FFMPEG);
      expect(resolveFfmpeg('/opt/ffmpeg')).toBe('/opt/ffmpeg');
    } finally {
      if (saved === undefined) delete process.env[FFMPEG_ENV];
      else process.env[FFMPEG_ENV] = saved;
    }
  });

  it('reports a missing binary and ffmpeg failures in one line', async () => {
    const missing = avcEncode(SOURCES.mandelbrot, { ffmpeg: '/nonexistent/ffmpeg' });
    await expect(missing).rejects.toThrow(CodecError);
    await expect(missing).rejects.toThrow(
      /cannot run ffmpeg at \/nonexistent\/ffmpeg \(not found\); set JPEGLM_FFMPEG/,
    );
    const e = await avcEncode('/nonexistent/clip.mp4').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CodecError);
    expect((e as Error).message).toMatch(/^ffmpeg: .*No such file or directory/);
    expect((e as Error).message).not.toContain('\n');
  });
});

describe('canonical profile avc-lm-256x144', () => {
  it('writes a baseline SPS for 256x144 (16x9 macroblocks) and a CAVLC PPS', () => {
    const h = avcHeaderFromStream(clip);
    expect(avcSameBytes(h.bytes, header.bytes)).toBe(true);
    const { sps, pps } = h;
    expect(sps.profileIdc).toBe(66); // Baseline (A.2.1)
    expect(sps.constraintFlags & 0b110000).toBe(0b110000); // constraint_set0/1: Constrained Baseline
    expect([sps.width, sps.height]).toEqual([256, 144]);
    expect([sps.picWidthInMbs, sps.frameHeightInMbs, sps.picSizeInMbs]).toEqual([16, 9, 144]);
    expect(sps.frameMbsOnly).toBe(true);
    expect(sps.chromaFormatIdc).toBe(1);
    expect(sps.maxNumRefFrames).toBe(3);
    expect(sps.picOrderCntType).toBe(2); // no B-frames
    expect(sps.vui?.colourPrimaries).toBeUndefined(); // colour tags cleared by the filter chain
    expect(sps.vui?.timeScale).toBe(6); // 3 fps: time_scale / (2 * num_units_in_tick)
    expect(pps.entropyCodingMode).toBe(false);
    expect(pps.numSliceGroups).toBe(1);
    expect(pps.weightedPred).toBe(false);
    expect(pps.transform8x8Mode).toBe(false);
    expect(pps.picInitQp).toBe(37);
  });

  it('records AVC-LM x264 settings in the SEI', () => {
    const sei = units(clip).find((u) => u.type === AvcNalType.sei)!;
    const text = Buffer.from(avcUnitBytes(clip, sei)).toString('latin1');
    for (const opt of [
      'cabac=0',
      'ref=3',
      'analyse=0x1:0', // partitions=none: no inter partitions (only intra 4x4 remains)
      'me=dia',
      'subme=0',
      'psy=0',
      'mixed_ref=0',
      'trellis=0',
      'fast_pskip=0',
      'threads=1',
      'slice_max_mbs=1',
      'bframes=0',
      'rc=cqp',
      'qp=37',
    ]) {
      expect(text).toContain(` ${opt} `);
    }
  });

  it('puts one macroblock in every slice: 15 pictures of 144 slices, first_mb_in_slice 0..143', () => {
    const slices = slicesOf(clip, header);
    expect(slices).toHaveLength(15 * 144);
    for (let f = 0; f < 15; f++) {
      const pic = slices.slice(f * 144, (f + 1) * 144);
      expect(pic.map((s) => s.header.firstMbInSlice)).toEqual(
        Array.from({ length: 144 }, (_, i) => i),
      );
      for (const s of pic) {
        expect(s.header.frameNum).toBe(f);
        expect(s.header.nalType).toBe(f === 0 ? AvcNalType.idrSlice : AvcNalType.nonIdrSlice);
        expect(s.header.sliceType).toBe(f === 0 ? 7 : 5); // I / P, all slices of the picture alike
        // Constant QP 37 for P pictures; x264's ip_ratio 1.40 gives I pictures QP 34.
        expect(header.pps.picInitQp + s.header.sliceQpDelta).toBe(f === 0 ? 34 : 37);
      }
    }
    const a = avcAnalyze(clip, { profile: AVC_LM_256X144, header });
    expect(a.issues).toEqual([]);
    expect(a.pictures).toHaveLength(15);
  });

  it('gives the same bytes for the same input and binary; the header does not depend on the pictures', async () => {
    const again = await avcEncode(SOURCES.rotatingTestsrc);
    expect(avcSameBytes(again, clip)).toBe(true);
    const other = await avcEncode(SOURCES.bars);
    expect(avcSameBytes(other, clip)).toBe(false);
    expect(avcSameBytes(avcHeaderFromStream(other).bytes, header.bytes)).toBe(true);
  });

  it('scales to fit and pads: a 4:3 source gets black bars left and right', () => {
    const r = spawnSync(
      bundledFfmpegPath(),
      [
        '-v',
        'error',
        '-f',
        'h264',
        '-i',
        'pipe:0',
        '-frames:v',
        '1',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'gray',
        'pipe:1',
      ],
      { input: clip },
    );
    const y = r.stdout;
    expect(y.length).toBe(256 * 144);
    // 4:3 at height 144 is 192 wide: 32 columns of padding each side.
    const mean = (x0: number, x1: number): number => {
      let s = 0;
      for (let row = 0; row < 144; row++) for (let x = x0; x < x1; x++) s += y[row * 256 + x];
      return s / (144 * (x1 - x0));
    };
    expect(mean(0, 28)).toBeLessThan(20);
    expect(mean(228, 256)).toBeLessThan(20);
    expect(mean(40, 216)).toBeGreaterThan(40);
  });

  it('takes the first 5 s at 3 fps, fewer frames from a shorter source', async () => {
    const short = await avcEncode({ lavfi: 'testsrc2=s=256x144:r=25:d=2' });
    expect(decodedFrames(SYSTEM_FFMPEG, short)).toBe(6);
    expect(decodedFrames(SYSTEM_FFMPEG, clip)).toBe(15);
  });

  it('decodes without a single error in the bundled ffmpeg and in the system ffmpeg', () => {
    expect(ffmpegErrors(bundledFfmpegPath(), clip)).toEqual([]);
    expect(ffmpegErrors(SYSTEM_FFMPEG, clip)).toEqual([]);
  });
});

describe('other sizes and lengths', () => {
  it('parses profile names and refuses bad ones', () => {
    expect(avcProfile('avc-lm-256x144')).toEqual(AVC_LM_256X144);
    expect(avcProfile('avc-lm-64x48-8f')).toMatchObject({
      width: 64,
      height: 48,
      frames: 8,
      fps: 3,
    });
    expect(makeAvcProfile({ width: 128, height: 96, frames: 15, fps: 5 }).name).toBe(
      'avc-lm-128x96-5fps',
    );
    expect(() => avcProfile('avc-lm-255x144')).toThrow(/even integer/);
    expect(() => avcProfile('avc-lm-64x48-15f')).toThrow(/spelled avc-lm-64x48/);
    expect(() => avcProfile('h264')).toThrow(/unknown AVC profile/);
    expect(() => makeAvcProfile({ width: 64, height: 48, frames: 0 })).toThrow(CodecError);
  });

  it('encodes a 64x48, 8-frame profile: 12 one-macroblock slices per picture', async () => {
    const p = avcProfile('avc-lm-64x48-8f');
    const small = await avcEncode(SOURCES.mandelbrot, { profile: p });
    const h = await avcProfileHeader(p);
    expect(avcSameBytes(avcHeaderFromStream(small).bytes, h.bytes)).toBe(true);
    expect([h.sps.width, h.sps.height, h.sps.picSizeInMbs]).toEqual([64, 48, 12]);
    expect(slicesOf(small, h)).toHaveLength(8 * 12);
    expect(avcAnalyze(small, { profile: p, header: h }).issues).toEqual([]);
  });
});

describe('slice headers (7.3.3)', () => {
  it('rewrites every slice header bit-exactly', () => {
    for (const s of slicesOf(clip, header)) {
      const w = new AvcBitWriter();
      avcWriteSliceHeader(w, s.header, header.sps, header.pps);
      expect(w.bitLength).toBe(s.header.headerBits);
      const orig = new AvcBitReader(s.rbsp);
      const mine = new AvcBitReader(w.toBytes());
      for (let i = 0; i < w.bitLength; i++) expect(mine.u1()).toBe(orig.u1());
      expect(
        avcSameBytes(
          avcRewriteSliceHeader(s.rbsp, s.header, s.header, header.sps, header.pps),
          s.rbsp,
        ),
      ).toBe(true);
    }
  });

  it('checks ranges: first_mb_in_slice beyond the picture, an IDR P slice, a wrong PPS id', () => {
    const { sps, pps } = header;
    const build = (f: (w: AvcBitWriter) => void): Uint8Array => {
      const w = new AvcBitWriter();
      f(w);
      w.trailingBits();
      return w.toBytes();
    };
    const idr = (firstMb: number, sliceType: number, ppsId: number): Uint8Array =>
      build((w) => {
        w.ue(firstMb);
        w.ue(sliceType);
        w.ue(ppsId);
        w.u(sps.log2MaxFrameNum, 0);
        w.ue(0); // idr_pic_id
        w.u(2, 0); // dec_ref_pic_marking
        w.se(0);
        w.ue(0);
        w.se(0);
        w.se(0);
      });
    expect(avcParseSliceHeader(idr(5, 7, 0), AvcNalType.idrSlice, 3, sps, pps).firstMbInSlice).toBe(
      5,
    );
    expect(() => avcParseSliceHeader(idr(144, 7, 0), AvcNalType.idrSlice, 3, sps, pps)).toThrow(
      /first_mb_in_slice = 144/,
    );
    expect(() => avcParseSliceHeader(idr(0, 5, 0), AvcNalType.idrSlice, 3, sps, pps)).toThrow(
      /IDR slice has slice_type 5/,
    );
    expect(() => avcParseSliceHeader(idr(0, 7, 1), AvcNalType.idrSlice, 3, sps, pps)).toThrow(
      /pic_parameter_set_id 1/,
    );
    expect(() => avcParseSliceHeader(idr(0, 12, 0), AvcNalType.idrSlice, 3, sps, pps)).toThrow(
      /slice_type = 12/,
    );
  });

  it('parses parameter sets only when they end in rbsp_trailing_bits', () => {
    const spsUnit = units(clip).find((u) => u.type === AvcNalType.sps)!;
    const rbsp = avcUnitRbsp(clip, spsUnit);
    expect(avcParseSps(rbsp).width).toBe(256);
    expect(() => avcParseSps(rbsp.subarray(0, 6))).toThrow(CodecError);
    const ppsRbsp = avcUnitRbsp(
      clip,
      units(clip).find((u) => u.type === AvcNalType.pps)!,
    );
    expect(avcParsePps(ppsRbsp).id).toBe(0);
    expect(() => avcParsePps(Uint8Array.of(0xff, 0xff))).toThrow(CodecError);
  });
});
