import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  BOS_ID,
  BytePairEncoding,
  CodecError,
  EOS_ID,
  JpegTokenizer,
  NULL_CLASS_ID,
  PAD_ID,
  PROFILES,
  canonicalHeader,
  canonicalizeRgb,
  customProfile,
  getProfile,
  idsToUint16LE,
  makeTokensFile,
  readTokensFile,
  readHeaderLayout,
  restartMarkerCount,
  uint16LEToIds,
  writePpm,
  type CanonicalJpegProfile,
} from '../src/index.js';
import { lavfiImage, mulberry32, noiseImage, noisyGradientImage } from './fixtures/images.js';
import { cjpeg } from './helpers/peers.js';

const CUSTOM: CanonicalJpegProfile[] = [
  customProfile({ width: 40, height: 24, subsampling: '4:4:4', quality: 60 }),
  customProfile({ width: 33, height: 17, restartInterval: 0, quality: 90 }),
  customProfile({ width: 64, height: 64, restartInterval: 4, quality: 10 }),
];
const ALL = [...Object.values(PROFILES), ...CUSTOM];

describe('fixed header', () => {
  it('is the header cjpeg writes, for every named and some custom profiles', () => {
    for (const p of ALL) {
      const ref = cjpeg(writePpm(noiseImage(p.width, p.height, 5)), p);
      const end = readHeaderLayout(ref).headerEnd;
      expect(canonicalHeader(p), p.name).toEqual(ref.subarray(0, end));
    }
  });

  it('has 255 restart markers per image for JPEG-LM, as in the paper', () => {
    expect(restartMarkerCount(getProfile('jpeglm-256-q25'))).toBe(255);
    expect(restartMarkerCount(getProfile('jpeglm-48-q50'))).toBe(8);
    expect(restartMarkerCount(CUSTOM[1])).toBe(0);
    expect(restartMarkerCount(CUSTOM[2])).toBe(3); // 16 MCUs, a marker every 4
  });
});

describe('tokenize / detokenize', () => {
  it('round-trips byte for byte for every profile, with the exact bytes cjpeg writes', () => {
    for (const p of ALL) {
      const tok = new JpegTokenizer({ profile: p, classes: ['cat', 'dog'] });
      const images = [
        lavfiImage('mandelbrot', p.width, p.height),
        noisyGradientImage(p.width, p.height, 3),
      ];
      for (const img of images) {
        const jpeg = canonicalizeRgb(img, p);
        expect(jpeg, p.name).toEqual(cjpeg(writePpm(img), p));
        const ids = tok.tokenize(jpeg, { classLabel: 'dog' });
        expect(tok.detokenize(ids)).toEqual(jpeg);
      }
    }
  });

  it('lays a sequence out as BOS, class, scan bytes with RSTs, FF D9, EOS', () => {
    const p = getProfile('jpeglm-64-q50');
    const tok = new JpegTokenizer({ profile: p, classes: ['a', 'b', 'c'] });
    const jpeg = canonicalizeRgb(lavfiImage('testsrc2', 64, 64), p);
    const header = canonicalHeader(p);
    const ids = tok.tokenize(jpeg, { classLabel: 'c' });
    expect(ids.length).toBe(jpeg.length - header.length + 3);
    expect(ids[0]).toBe(BOS_ID);
    expect(ids[1]).toBe(262);
    expect(Array.from(ids.subarray(-3))).toEqual([0xff, 0xd9, EOS_ID]);
    expect(Array.from(ids.subarray(2, -1))).toEqual(Array.from(jpeg.subarray(header.length)));
    let rst = 0;
    for (let i = 2; i + 1 < ids.length; i++)
      if (ids[i] === 0xff && ids[i + 1] === 0xd0 + (rst & 7)) rst++;
    expect(rst).toBe(restartMarkerCount(p));
    expect(tok.tokenize(jpeg)[1]).toBe(NULL_CLASS_ID);
    expect(tok.parseSequence(ids).classLabel).toBe('c');
    expect(tok.parseSequence(tok.tokenize(jpeg)).classLabel).toBeNull();
  });

  it('round-trips random images (property test)', () => {
    const rand = mulberry32(77);
    const profiles = Object.values(PROFILES).filter((p) => p.width <= 64);
    for (let t = 0; t < 30; t++) {
      const p = profiles[t % profiles.length];
      const tok = new JpegTokenizer({ profile: p });
      const img = noiseImage(p.width, p.height, rand());
      const jpeg = canonicalizeRgb(img, p);
      expect(tok.detokenize(tok.tokenize(jpeg))).toEqual(jpeg);
    }
  });

  it('accepts trailing PAD and, on request, a sequence cut off before EOS', () => {
    const p = getProfile('jpeglm-32-q75');
    const tok = new JpegTokenizer({ profile: p });
    const jpeg = canonicalizeRgb(lavfiImage('mandelbrot', 32, 32), p);
    const ids = Array.from(tok.tokenize(jpeg));
    expect(tok.detokenize([...ids, PAD_ID, PAD_ID])).toEqual(jpeg);
    const cut = ids.slice(0, 40);
    expect(() => tok.detokenize(cut)).toThrow(/does not end with EOS/);
    const partial = tok.detokenize(cut, { allowUnterminated: true });
    expect(partial).toEqual(jpeg.subarray(0, canonicalHeader(p).length + 38));
    expect(tok.parseSequence(cut, { allowUnterminated: true }).terminated).toBe(false);
  });
});

describe('refusals', () => {
  const p = getProfile('jpeglm-64-q50');
  const tok = new JpegTokenizer({ profile: p, classes: ['x'] });
  const img = lavfiImage('mandelbrot', 64, 64);
  const jpeg = canonicalizeRgb(img, p);

  it('names what differs when a header is not the profile', () => {
    const cases: [Uint8Array, RegExp][] = [
      [cjpeg(writePpm(img), { ...p, quality: 51 }), /quantisation tables differ/],
      [cjpeg(writePpm(lavfiImage('mandelbrot', 48, 64)), p), /image is 48x64, expected 64x64/],
      [
        cjpeg(writePpm(img), { ...p, restartInterval: 2 }),
        /restart interval is 2 MCUs, expected 1/,
      ],
      [
        cjpeg(writePpm(img), { ...p, subsampling: '4:4:4' }),
        /sampling factors are 1x1,1x1,1x1, expected 2x2,1x1,1x1/,
      ],
      [
        new Uint8Array(
          spawnSync(
            'cjpeg',
            ['-quality', '50', '-sample', '2x2', '-restart', '1B', '-progressive'],
            {
              input: writePpm(img),
            },
          ).stdout,
        ),
        /not a baseline JPEG \(progressive\)/,
      ],
      [
        new Uint8Array(
          spawnSync('cjpeg', ['-quality', '50', '-sample', '2x2', '-restart', '1B', '-optimize'], {
            input: writePpm(img),
          }).stdout,
        ),
        /not the standard Annex K tables/,
      ],
      [
        // An EXIF-like APP1 segment after APP0.
        Uint8Array.from([...jpeg.subarray(0, 20), 0xff, 0xe1, 0, 4, 1, 2, ...jpeg.subarray(20)]),
        /extra header segments APP1/,
      ],
      [writePpm(img), /not a JPEG/],
    ];
    for (const [bytes, why] of cases) {
      let err: unknown;
      try {
        tok.tokenize(bytes);
      } catch (e) {
        err = e;
      }
      expect(err, String(why)).toBeInstanceOf(CodecError);
      expect((err as Error).message).toMatch(why);
    }
  });

  it('refuses broken bodies', () => {
    const h = canonicalHeader(p).length;
    expect(() => tok.tokenize(jpeg.subarray(0, jpeg.length - 30))).toThrow(/without EOI/);
    expect(() => tok.tokenize(Uint8Array.from([...jpeg, 1, 2, 3]))).toThrow(
      /3 bytes of data after EOI/,
    );
    // Swap one restart marker for another.
    const bad = jpeg.slice();
    const at = bad.indexOf(0xd1, h);
    expect(bad[at - 1]).toBe(0xff);
    bad[at] = 0xd2;
    expect(() => tok.tokenize(bad)).toThrow(/RST2 out of sequence \(expected RST1\)/);
    // A scan that stops after a restart marker, then EOI: too few markers.
    const rst3 = jpeg.indexOf(0xd3, h);
    const short = Uint8Array.from([...jpeg.subarray(0, rst3 + 1), 0xff, 0xd9]);
    expect(() => tok.tokenize(short)).toThrow(/scan has 4 restart markers.*has 15/);
  });

  it('rejects malformed sequences with a clear error', () => {
    const ids = Array.from(tok.tokenize(jpeg));
    const cases: [number[], RegExp][] = [
      [[], /empty/],
      [[PAD_ID], /empty/],
      [ids.slice(1), /starts with token NULL_CLASS, not BOS/],
      [[BOS_ID], /ends after BOS/],
      [[BOS_ID, 5, ...ids.slice(2)], /position 1 is not a class token/],
      [[BOS_ID, 261, ...ids.slice(2)], /token 261 at position 1 is outside the vocabulary/],
      [[...ids.slice(0, 10), EOS_ID, ...ids.slice(10)], /EOS at position 10 is not a byte token/],
      [[...ids.slice(0, 10), 300, ...ids.slice(10)], /token 300 at position 10 is outside/],
      [[...ids.slice(0, 10), -1], /outside the vocabulary/],
    ];
    for (const [seq, why] of cases) expect(() => tok.detokenize(seq)).toThrow(why);
    expect(() => tok.tokenize(jpeg, { classLabel: 'y' })).toThrow(
      /unknown class label "y" \(known: x\)/,
    );
  });

  it('only ever throws CodecError on mutated files and random sequences (fuzz)', () => {
    const rand = mulberry32(2024);
    let accepted = 0;
    for (let t = 0; t < 3000; t++) {
      const m = jpeg.slice();
      const edits = 1 + (rand() % 4);
      for (let k = 0; k < edits; k++) m[rand() % m.length] = rand() & 255;
      const cut = rand() % 4 === 0 ? m.subarray(0, rand() % m.length) : m;
      try {
        expect(tok.detokenize(tok.tokenize(cut))).toEqual(cut);
        accepted++;
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
      }
    }
    expect(accepted).toBeGreaterThan(0); // some scan-byte edits keep the structure intact
    for (let t = 0; t < 2000; t++) {
      const seq = Array.from({ length: rand() % 40 }, () => rand() % (tok.vocabSize + 3));
      if (rand() % 2) seq.unshift(BOS_ID);
      try {
        tok.detokenize(seq, { allowUnterminated: rand() % 2 === 0 });
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
      }
    }
  });
});

describe('tokenizer with BPE', () => {
  const p = getProfile('jpeglm-64-q50');
  const bodies = (['mandelbrot', 'testsrc2', 'cellauto', 'life'] as const).map((s) => {
    const jpeg = canonicalizeRgb(lavfiImage(s, 64, 64), p);
    return { jpeg, body: jpeg.subarray(canonicalHeader(p).length) };
  });
  const bpe = BytePairEncoding.train(
    bodies.map((b) => b.body),
    { merges: 100 },
  );
  const tok = new JpegTokenizer({ profile: p, classes: ['a', 'b'], bpe });

  it('puts merges after the class tokens and round-trips exactly', () => {
    expect(tok.firstMergeId).toBe(262);
    expect(tok.vocabSize).toBe(262 + bpe.merges.length);
    let shorter = 0;
    for (const { jpeg } of bodies) {
      const ids = tok.tokenize(jpeg, { classLabel: 'b' });
      expect(tok.detokenize(ids)).toEqual(jpeg);
      expect(ids.some((id) => id >= 262)).toBe(true);
      expect(
        ids.every((id) => id < 256 || id >= 262 || id === BOS_ID || id === EOS_ID || id === 261),
      ).toBe(true);
      shorter += jpeg.length - canonicalHeader(p).length + 3 - ids.length;
      expect(tok.tokenBytes(ids[2])).toEqual(
        jpeg.subarray(canonicalHeader(p).length).subarray(0, tok.tokenBytes(ids[2])?.length),
      );
    }
    expect(shorter).toBeGreaterThan(0);
    expect(tok.tokenBytes(BOS_ID)).toBeUndefined();
    expect(tok.tokenBytes(260)).toBeUndefined();
  });

  it('saves and loads its JSON file, merges included', () => {
    const text = JSON.stringify(tok.toJSON());
    const back = JpegTokenizer.fromJSON(text);
    expect(back.vocabSize).toBe(tok.vocabSize);
    expect(back.classes).toEqual(['a', 'b']);
    expect(back.profile).toEqual(p);
    const ids = tok.tokenize(bodies[0].jpeg, { classLabel: 'a' });
    expect(back.tokenize(bodies[0].jpeg, { classLabel: 'a' })).toEqual(ids);
    const f = tok.toJSON();
    expect(f.merges?.first).toBe(262);
    expect(f.specialTokens).toEqual({ BOS: 256, EOS: 257, PAD: 258, NULL_CLASS: 259 });
    expect(Buffer.from(f.header, 'base64')).toEqual(Buffer.from(canonicalHeader(p)));
  });

  it('rejects tokenizer files that do not add up', () => {
    const f = tok.toJSON();
    const cases: [unknown, RegExp][] = [
      ['nope', /invalid JSON/],
      [{ ...f, format: 'other' }, /"format"/],
      [{ ...f, version: 2 }, /unsupported version 2/],
      [{ ...f, vocabSize: 5 }, /"vocabSize" is 5/],
      [{ ...f, header: 'AAAA' }, /not the canonical header/],
      [{ ...f, profile: { ...f.profile, quality: 0 } }, /quality/],
      [{ ...f, specialTokens: { ...f.specialTokens, PAD: 300 } }, /"specialTokens"/],
      [{ ...f, classTokens: { first: 260, labels: ['a', 'a'] } }, /listed twice/],
      [{ ...f, merges: { first: 262, pairs: [[260, 1]] } }, /refers to 260/],
      [{ ...f, merges: { first: 262, pairs: [[262, 1]] } }, /refers to 262/],
    ];
    for (const [json, why] of cases) expect(() => JpegTokenizer.fromJSON(json)).toThrow(why);
  });
});

describe('bin format and sequence splitting', () => {
  it('writes uint16 little-endian and reads it back', () => {
    const ids = Uint16Array.of(BOS_ID, NULL_CLASS_ID, 0xff, 0xd9, EOS_ID, 65535);
    const bytes = idsToUint16LE(ids);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x00, 0x01, 0x03, 0x01]);
    expect(uint16LEToIds(bytes)).toEqual(ids);
    expect(() => uint16LEToIds(bytes.subarray(1))).toThrow(/odd number of bytes/);
    expect(() => idsToUint16LE([70000])).toThrow(/does not fit uint16/);
  });

  it('cuts a stream of back-to-back sequences at BOS/EOS', () => {
    const p = getProfile('jpeglm-32-q75');
    const tok = new JpegTokenizer({ profile: p });
    const a = tok.tokenize(canonicalizeRgb(lavfiImage('mandelbrot', 32, 32), p));
    const b = tok.tokenize(canonicalizeRgb(lavfiImage('testsrc2', 32, 32), p));
    const flat = Uint16Array.from([...a, PAD_ID, ...b]);
    expect(tok.splitSequences(uint16LEToIds(idsToUint16LE(flat)))).toEqual([a, b]);
    expect(() => tok.splitSequences([5])).toThrow(/expected BOS/);
    expect(() => tok.splitSequences(a.subarray(0, -1))).toThrow(/has no EOS/);
  });
});

describe('tokens file', () => {
  const p = getProfile('jpeglm-32-q75');
  const tok = new JpegTokenizer({ profile: p, classes: ['a', 'b'] });
  const jpeg = canonicalizeRgb(lavfiImage('mandelbrot', 32, 32), p);

  it('carries its tokenizer and round-trips', () => {
    const ids = tok.tokenize(jpeg, { classLabel: 'b' });
    const file = makeTokensFile(tok, [{ source: 'x.png', ids }, { ids: tok.tokenize(jpeg) }]);
    expect(file.sequences[0]).toEqual({ source: 'x.png', class: 'b', ids: Array.from(ids) });
    expect(file.sequences[1].class).toBeNull();
    const back = readTokensFile(JSON.stringify(file));
    expect(back.tokenizer.toJSON()).toEqual(tok.toJSON());
    expect(back.sequences[0]).toEqual({ source: 'x.png', ids });
    expect(back.tokenizer.detokenize(back.sequences[1].ids)).toEqual(jpeg);
  });

  it('refuses inconsistent files', () => {
    const file = makeTokensFile(tok, [{ ids: tok.tokenize(jpeg, { classLabel: 'a' }) }]);
    const cases: [unknown, RegExp][] = [
      [{ ...file, format: 'x' }, /"format"/],
      [{ ...file, version: 3 }, /unsupported version 3/],
      [{ ...file, sequences: {} }, /"sequences" must be an array/],
      [{ ...file, sequences: [{ ids: [1.5] }] }, /integers 0\.\.65535/],
      [
        { ...file, sequences: [{ ...file.sequences[0], class: 'b' }] },
        /"class" is "b" but its class token says "a"/,
      ],
      [{ ...file, tokenizer: { ...file.tokenizer, vocabSize: 1 } }, /"vocabSize"/],
    ];
    for (const [json, why] of cases) expect(() => readTokensFile(json)).toThrow(why);
  });
});
