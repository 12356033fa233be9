import { beforeAll, describe, expect, it } from 'vitest';
import {
  AVC_LM_256X144,
  AvcNalType,
  AvcTokenizer,
  BOS_ID,
  EOS_ID,
  NULL_CLASS_ID,
  PAD_ID,
  avcEncode,
  avcProfile,
  avcSameBytes,
  type AvcHeader,
} from '../src/index.js';
import { SOURCES, units } from './avc-fixtures.js';

let tok: AvcTokenizer;
const clips: Record<string, Uint8Array> = {};

beforeAll(async () => {
  tok = await AvcTokenizer.forProfile(AVC_LM_256X144, { classes: ['cat', 'dog'] });
  for (const [name, src] of Object.entries(SOURCES)) clips[name] = await avcEncode(src);
});

describe('AvcTokenizer', () => {
  it('uses the JPEG tokenizer vocabulary: 256 byte ids, BOS, EOS, PAD, NULL_CLASS, classes', () => {
    expect([tok.bos, tok.eos, tok.pad, tok.nullClass]).toEqual([
      BOS_ID,
      EOS_ID,
      PAD_ID,
      NULL_CLASS_ID,
    ]);
    expect([BOS_ID, EOS_ID, PAD_ID, NULL_CLASS_ID]).toEqual([256, 257, 258, 259]);
    expect(tok.vocabSize).toBe(262);
    expect(tok.classId('dog')).toBe(261);
    expect(() => tok.classId('cow')).toThrow(/unknown class label/);
  });

  it('drops the header and restores it byte for byte (lossless round trip)', () => {
    for (const [name, clip] of Object.entries(clips)) {
      const ids = tok.tokenize(clip, { classLabel: 'cat' });
      expect(ids[0], name).toBe(BOS_ID);
      expect(ids[1]).toBe(260);
      expect(ids[ids.length - 1]).toBe(EOS_ID);
      const body = tok.body(clip);
      expect(ids.length).toBe(body.length + 3);
      expect(body.length).toBe(
        clip.length -
          tok.header.bytes.length -
          (name === 'sceneCut' ? tok.header.repeatBytes.length : 0),
      );
      // Only slices remain: no parameter sets, no SEI.
      expect(new Set(units(body).map((u) => u.type))).toEqual(
        new Set([AvcNalType.idrSlice, AvcNalType.nonIdrSlice]),
      );
      expect(avcSameBytes(tok.detokenize(ids), clip), name).toBe(true);
    }
  });

  it('also drops the SPS/PPS x264 repeats before a later IDR picture, and puts them back', () => {
    const clip = clips.sceneCut;
    const idrStarts = units(clip).filter(
      (u, i, all) => u.type === AvcNalType.idrSlice && all[i - 1]?.type !== AvcNalType.idrSlice,
    );
    expect(idrStarts.length).toBe(2);
    expect(units(clip).filter((u) => u.type === AvcNalType.sps)).toHaveLength(2);
    expect(units(tok.body(clip)).filter((u) => u.type === AvcNalType.sps)).toHaveLength(0);
  });

  it('accepts trailing PAD and, on request, a sequence cut off before EOS', () => {
    const ids = tok.tokenize(clips.mandelbrot);
    const padded = Uint16Array.from([...ids, PAD_ID, PAD_ID]);
    expect(avcSameBytes(tok.detokenize(padded), clips.mandelbrot)).toBe(true);
    const cut = ids.subarray(0, 1000);
    expect(() => tok.detokenize(cut)).toThrow(/does not end with EOS/);
    const partial = tok.detokenize(cut, { allowUnterminated: true });
    expect(avcSameBytes(partial, clips.mandelbrot.subarray(0, partial.length))).toBe(true);
    expect(partial.length).toBe(tok.header.bytes.length + 998);
  });

  it('refuses streams of another profile or ffmpeg build, and bad token sequences', async () => {
    const other = await avcEncode(SOURCES.mandelbrot, { profile: avcProfile('avc-lm-64x48-8f') });
    expect(() => tok.tokenize(other)).toThrow(/does not start with the profile header/);
    // x264 repeats the SPS and PPS before every later IDR picture; without them the token
    // sequence could not give this stream back, so it is refused rather than silently changed.
    const cut = clips.sceneCut;
    const u = units(cut);
    const second = u.findIndex((x, i) => i > 3 && x.type === AvcNalType.sps);
    const bare = new Uint8Array([
      ...cut.subarray(0, u[second].offset),
      ...cut.subarray(u[second + 2].offset),
    ]);
    expect(() => tok.tokenize(bare)).toThrow(/not in canonical form/);
    expect(() => tok.detokenize([1, 2, 3])).toThrow(/not BOS/);
    expect(() => tok.detokenize([BOS_ID, 5, EOS_ID])).toThrow(/not a class token/);
    expect(() => tok.detokenize([BOS_ID, NULL_CLASS_ID, 0, 0, 1, BOS_ID, EOS_ID])).toThrow(
      /position 5 is not a byte token/,
    );
  });

  it('saves and loads its JSON file, header included (no ffmpeg needed to detokenize)', () => {
    const json = JSON.stringify(tok.toJSON());
    const back = AvcTokenizer.fromJSON(json);
    expect(back.classes).toEqual(['cat', 'dog']);
    expect(back.profile).toEqual(AVC_LM_256X144);
    const ids = tok.tokenize(clips.bars, { classLabel: 'dog' });
    expect(avcSameBytes(back.detokenize(ids), clips.bars)).toBe(true);
    const f = JSON.parse(json) as Record<string, unknown>;
    expect(() => AvcTokenizer.fromJSON({ ...f, format: 'x' })).toThrow(/"format"/);
    expect(() => AvcTokenizer.fromJSON({ ...f, vocabSize: 300 })).toThrow(/vocabSize/);
    expect(() => AvcTokenizer.fromJSON({ ...f, header: 'AAAA' })).toThrow(/header/);
    const h: AvcHeader = back.header;
    expect(avcSameBytes(h.bytes, tok.header.bytes)).toBe(true);
  });
});
