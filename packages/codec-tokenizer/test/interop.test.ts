import { describe, expect, it } from 'vitest';
import {
  BRAILLE_OFFSET,
  BytePairEncoding,
  bpeToHuggingFaceJson,
  CodecError,
  brailleToBytes,
  bytesToBraille,
  fromJpegLmText,
  joinJpegLm,
  readHeaderLayout,
  splitForJpegLm,
  toJpegLmText,
} from '../src/index.js';
import { cjpegLavfi, djpegPpm } from './helpers/peers.js';

function markers(bytes: Uint8Array): number[] {
  // Header walk of an abbreviated or tables-only stream: marker codes in order.
  const out: number[] = [];
  let i = 2;
  while (i + 3 < bytes.length && bytes[i] === 0xff && bytes[i + 1] !== 0xd9) {
    out.push(bytes[i + 1]);
    if (bytes[i + 1] === 0xda) break;
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return out;
}

describe('JPEG-LM image-only stream and tables file', () => {
  const full = cjpegLavfi('testsrc2=s=256x256');

  it('splits into the streams Pillow writes (streamtype 2 and 1)', () => {
    const { imageOnly, tables } = splitForJpegLm(full);
    // SOI APP0 SOF0 DRI SOS: the ~59-byte fixed header the reimplementation's model emits.
    expect(markers(imageOnly)).toEqual([0xe0, 0xc0, 0xdd, 0xda]);
    expect(readHeaderLayout(imageOnly).headerEnd).toBe(59);
    // libjpeg jpeg_write_tables: SOI, every DQT, then DC/AC Huffman tables per slot, EOI.
    expect(markers(tables)).toEqual([0xdb, 0xdb, 0xc4, 0xc4, 0xc4, 0xc4]);
    expect(Array.from(tables.subarray(0, 2))).toEqual([0xff, 0xd8]);
    expect(Array.from(tables.subarray(-2))).toEqual([0xff, 0xd9]);
    // Table classes/ids of the four DHTs: DC0, AC0, DC1, AC1.
    const dht: number[] = [];
    for (let i = 2; i < tables.length - 2; i += 2 + ((tables[i + 2] << 8) | tables[i + 3])) {
      if (tables[i + 1] === 0xc4) dht.push(tables[i + 4]);
    }
    expect(dht).toEqual([0x00, 0x10, 0x01, 0x11]);
    expect(imageOnly.length + tables.length - 4).toBe(full.length);
  });

  it('joins back into the full file byte for byte (interchange layout)', () => {
    for (const q of [5, 25, 90]) {
      const f = cjpegLavfi('mandelbrot=s=64x48', q);
      const { imageOnly, tables } = splitForJpegLm(f);
      expect(joinJpegLm(imageOnly, tables)).toEqual(f);
    }
  });

  it('joins like run.py (tables right after SOI), which libjpeg decodes to the same pixels', () => {
    const { imageOnly, tables } = splitForJpegLm(full);
    const joined = joinJpegLm(imageOnly, tables, 'jpeg-lm');
    // run.py save_byte_image: int_list[:2] + table_int_list[2:-2] + int_list[2:]
    const runPy = Uint8Array.from([
      ...imageOnly.subarray(0, 2),
      ...tables.subarray(2, -2),
      ...imageOnly.subarray(2),
    ]);
    expect(joined).toEqual(runPy);
    expect(djpegPpm(joined).equals(djpegPpm(full))).toBe(true);
  });

  it('refuses inputs that are not what they claim', () => {
    const { imageOnly, tables } = splitForJpegLm(full);
    expect(() => splitForJpegLm(imageOnly)).toThrow(/no DQT\/DHT/);
    expect(() => splitForJpegLm(Uint8Array.of(1, 2, 3))).toThrow(CodecError);
    expect(() => joinJpegLm(full, tables)).toThrow(/already carries/);
    expect(() => joinJpegLm(imageOnly, tables.subarray(0, -2))).toThrow(/EOI/);
    expect(() => joinJpegLm(imageOnly, imageOnly)).toThrow(/only DQT and DHT/);
  });
});

describe('byte <-> Braille character mapping', () => {
  it('maps byte b to U+2800+b and back, for every byte', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = bytesToBraille(all);
    expect(text.length).toBe(256);
    for (let b = 0; b < 256; b++) expect(text.codePointAt(b)).toBe(BRAILLE_OFFSET + b);
    expect(brailleToBytes(text)).toEqual(all);
    // The restart-row separator run.py searches for when cutting prompts.
    expect(bytesToBraille(Uint8Array.of(0xff, 0xd7))).toBe('\u28ff\u28d7');
  });

  it('rejects characters outside the block', () => {
    expect(() => brailleToBytes('\u28ffA')).toThrow(/U\+0041 at index 1/);
    expect(() => brailleToBytes('\u2900')).toThrow(CodecError);
  });

  it('round-trips a canonical file through the model text', () => {
    const { tables } = splitForJpegLm(full());
    const text = toJpegLmText(full());
    expect(text.startsWith('\u28ff\u28d8\u28ff\u28e0')).toBe(true); // SOI, APP0
    expect(text.endsWith('\u28ff\u28d9')).toBe(true); // EOI
    expect(fromJpegLmText(text, tables)).toEqual(full());
    // Large inputs go through in chunks (no call-stack limit on String.fromCharCode).
    const big = new Uint8Array(300000).map((_, i) => i & 255);
    expect(brailleToBytes(bytesToBraille(big))).toEqual(big);
  });

  let cached: Uint8Array | undefined;
  function full(): Uint8Array {
    cached ??= cjpegLavfi('testsrc2=s=128x128');
    return cached;
  }
});

describe('BPE as a Hugging Face tokenizer.json', () => {
  it('segments Braille text exactly as BytePairEncoding segments the bytes (transformers.js)', async () => {
    const { PreTrainedTokenizer } = await import('@huggingface/transformers');
    const scans = ['mandelbrot=s=64x64', 'testsrc2=s=64x64', 'cellauto=s=64x64:seed=1'].map((s) => {
      const f = cjpegLavfi(s, 50);
      return f.subarray(readHeaderLayout(f).headerEnd);
    });
    const bpe = BytePairEncoding.train(scans, { merges: 300, minFrequency: 1 });
    const json = bpeToHuggingFaceJson(bpe);
    const hf = new PreTrainedTokenizer(json, {});
    const held = cjpegLavfi('mandelbrot=s=64x64:start_x=-1.2:start_scale=0.4', 50);
    for (const bytes of [...scans, held.subarray(readHeaderLayout(held).headerEnd)]) {
      const ours = Array.from(bpe.encode(bytes), (id) => bytesToBraille(bpe.tokenBytes(id)));
      expect(hf.tokenize(bytesToBraille(bytes))).toEqual(ours);
    }
    // Markers stay whole pre-tokens: no merge in the file joins FF with D0..D7 or D9.
    const merges = (json.model as { merges: string[] }).merges;
    expect(merges.some((m) => /\u28ff [\u28d0-\u28d7\u28d9]/.test(m))).toBe(false);
  });
});
