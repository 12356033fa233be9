import { describe, expect, it } from 'vitest';
import {
  CodecError,
  DEFAULT_PROFILE_NAME,
  PROFILES,
  customProfile,
  describeProfile,
  getProfile,
  mcuCount,
  parseColour,
  parseSize,
  profileNames,
  sameEncoding,
  validateProfile,
} from '../src/index.js';

describe('named profiles', () => {
  it("jpeglm-256-q25 is JPEG-LM's canonical form", () => {
    expect(getProfile('jpeglm-256-q25')).toEqual({
      name: 'jpeglm-256-q25',
      width: 256,
      height: 256,
      quality: 25,
      subsampling: '4:2:0',
      restartInterval: 1,
      fit: 'crop',
      background: [255, 255, 255],
    });
    expect(DEFAULT_PROFILE_NAME).toBe('jpeglm-256-q25');
    expect(mcuCount(getProfile('jpeglm-256-q25'))).toBe(256);
  });

  it('are all valid, frozen, named after their key, and include small ones', () => {
    for (const name of profileNames()) {
      const p = PROFILES[name];
      expect(validateProfile(p)).toEqual(p);
      expect(p.name).toBe(name);
      expect(Object.isFrozen(p)).toBe(true);
      expect(name).toBe(`jpeglm-${p.width}-q${p.quality}`);
    }
    expect(mcuCount(getProfile('jpeglm-48-q50'))).toBe(9);
    expect(mcuCount(getProfile('jpeglm-64-q50'))).toBe(16);
  });

  it('an unknown name lists the known ones', () => {
    expect(() => getProfile('jpeglm-512')).toThrow(
      /unknown profile "jpeglm-512" \(known: jpeglm-256-q25, /,
    );
    expect(() => getProfile('toString')).toThrow(CodecError);
  });
});

describe('custom profiles', () => {
  it('override fields of a base profile and get a descriptive name', () => {
    const p = customProfile({ width: 64, height: 64, quality: 50 });
    expect(p).toMatchObject({
      width: 64,
      quality: 50,
      subsampling: '4:2:0',
      restartInterval: 1,
      fit: 'crop',
    });
    expect(p.name).toBe('custom-64x64-q50-420-r1-crop');
    expect(customProfile({ fit: 'pad', background: [0, 0, 0] }).name).toBe(
      'custom-256x256-q25-420-r1-pad-bg000000',
    );
    expect(customProfile({ quality: 25 }).name).toBe('jpeglm-256-q25'); // nothing changed
    expect(customProfile({ quality: 50 }, getProfile('jpeglm-48-q50')).name).toBe('jpeglm-48-q50');
    expect(customProfile({ width: 10, name: 'mine' }).name).toBe('mine');
    expect(
      describeProfile({ ...getProfile('jpeglm-64-q50'), subsampling: '4:4:4', restartInterval: 0 }),
    ).toBe('custom-64x64-q50-444-r0-crop');
  });

  it('reject every out-of-range field with the field named', () => {
    const base = getProfile('jpeglm-64-q50');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ width: 0 }, /width/],
      [{ height: 70000 }, /height/],
      [{ width: 1.5 }, /width/],
      [{ quality: 101 }, /quality/],
      [{ quality: 0 }, /quality/],
      [{ subsampling: '4:2:2' }, /subsampling/],
      [{ restartInterval: -1 }, /restartInterval/],
      [{ restartInterval: 65536 }, /restartInterval/],
      [{ fit: 'stretch' }, /fit/],
      [{ background: [0, 0] }, /background/],
      [{ background: [0, 0, 256] }, /background/],
      [{ name: '' }, /name/],
    ];
    for (const [o, why] of cases) expect(() => validateProfile({ ...base, ...o })).toThrow(why);
    expect(() => validateProfile(null)).toThrow(/not an object/);
  });

  it('compare by the bytes they produce, not by name', () => {
    const a = getProfile('jpeglm-64-q50');
    expect(sameEncoding(a, { ...a, name: 'other' })).toBe(true);
    expect(sameEncoding(a, { ...a, quality: 51 })).toBe(false);
    expect(sameEncoding(a, { ...a, background: [0, 0, 0] })).toBe(false);
  });
});

describe('option parsing', () => {
  it('reads sizes', () => {
    expect(parseSize('64')).toEqual({ width: 64, height: 64 });
    expect(parseSize('40x24')).toEqual({ width: 40, height: 24 });
    for (const bad of ['', '0', 'x4', '4x', '-4', '70000', '1.5', '4x4x4']) {
      expect(() => parseSize(bad)).toThrow(/invalid size/);
    }
  });

  it('reads colours', () => {
    expect(parseColour('#ff8000')).toEqual([255, 128, 0]);
    expect(parseColour('FF8000')).toEqual([255, 128, 0]);
    expect(parseColour('1, 2,3')).toEqual([1, 2, 3]);
    for (const bad of ['#fff', 'red', '1,2', '1,2,256', '#gg0000']) {
      expect(() => parseColour(bad)).toThrow(/invalid colour/);
    }
  });
});
