/**
 * Interop with the JPEG-LM reimplementation's data format (Han et al. 2024; xhan77/jpeg-lm
 * run.py, uwnlp/jpeg-lm-reimplementation):
 *
 * - Pillow writes each image as an abbreviated "image-only" stream (streamtype=2): SOI, APP0,
 *   SOF0, DRI, SOS, scan, EOI, without quantisation and Huffman tables.
 * - The tables go once into a "tables-only" file (streamtype=1, libjpeg jpeg_write_tables):
 *   SOI, DQT, DQT, DHT x4, EOI.
 * - To decode, run.py splices the tables file (minus its SOI and EOI) in right after the image
 *   stream's SOI.
 * - The model's text is the image-only stream with byte b written as the character U+2800+b
 *   (the Braille Patterns block), so restart marker FF D0 reads "\u28ff\u28d0".
 */
import type { BytePairEncoding } from './bpe.js';
import { CodecError } from './errors.js';
import { isFrameMarker, readHeaderLayout } from './jpeg-header.js';
import { Marker } from './jpeg/markers.js';

/** JPEG-LM's UNICODE_OFFSET: byte b is the character U+2800 + b. */
export const BRAILLE_OFFSET = 0x2800;

export function bytesToBraille(bytes: Uint8Array): string {
  let s = '';
  const CHUNK = 8192;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const part = bytes.subarray(i, Math.min(bytes.length, i + CHUNK));
    const codes = new Array<number>(part.length);
    for (let j = 0; j < part.length; j++) codes[j] = BRAILLE_OFFSET + part[j];
    s += String.fromCharCode(...codes);
  }
  return s;
}

/** Inverse of bytesToBraille; throws on any character outside U+2800..U+28FF. */
export function brailleToBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = text.charCodeAt(i) - BRAILLE_OFFSET;
    if (b < 0 || b > 255) {
      throw new CodecError(
        'invalid-argument',
        `character U+${text.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')} at index ${i} is not a JPEG-LM byte character (U+2800..U+28FF)`,
        i,
      );
    }
    out[i] = b;
  }
  return out;
}

export interface JpegLmStreams {
  /** The abbreviated image stream (Pillow streamtype=2). */
  readonly imageOnly: Uint8Array;
  /** The tables-only stream (Pillow streamtype=1): SOI, DQT..., DHT..., EOI. */
  readonly tables: Uint8Array;
}

function isTable(marker: number): boolean {
  return marker === Marker.DQT || marker === Marker.DHT;
}

/** Split a full (interchange) JPEG into JPEG-LM's image-only stream and tables-only file. */
export function splitForJpegLm(jpeg: Uint8Array): JpegLmStreams {
  const { segments, headerEnd } = readHeaderLayout(jpeg);
  const tableSegs = segments.filter((s) => isTable(s.marker));
  if (
    !tableSegs.some((s) => s.marker === Marker.DQT) ||
    !tableSegs.some((s) => s.marker === Marker.DHT)
  ) {
    throw new CodecError(
      'unsupported',
      'JPEG has no DQT/DHT in its header (already an abbreviated image-only stream?)',
    );
  }
  // libjpeg's jpeg_write_tables emits every DQT, then every DHT; a canonical header has them in
  // that order already, but a general file may interleave them.
  const ordered = [
    ...tableSegs.filter((s) => s.marker === Marker.DQT),
    ...tableSegs.filter((s) => s.marker === Marker.DHT),
  ];
  const tablesLen = ordered.reduce((n, s) => n + s.end - s.offset, 0);
  const tables = new Uint8Array(tablesLen + 4);
  tables[0] = 0xff;
  tables[1] = Marker.SOI;
  let o = 2;
  for (const s of ordered) {
    tables.set(jpeg.subarray(s.offset, s.end), o);
    o += s.end - s.offset;
  }
  tables[o] = 0xff;
  tables[o + 1] = Marker.EOI;

  const imageOnly = new Uint8Array(jpeg.length - tablesLen);
  imageOnly[0] = 0xff;
  imageOnly[1] = Marker.SOI;
  o = 2;
  for (const s of segments) {
    if (isTable(s.marker)) continue;
    imageOnly.set(jpeg.subarray(s.offset, s.end), o);
    o += s.end - s.offset;
  }
  imageOnly.set(jpeg.subarray(headerEnd), o);
  return { imageOnly, tables };
}

/**
 * Where joinJpegLm puts the tables:
 * - 'jpeg-lm': right after SOI, exactly as JPEG-LM's run.py (save_byte_image) does;
 * - 'interchange': each DQT before the frame header and each DHT before DRI/SOS, where libjpeg
 *   writes them in a full file. For a canonical stream this restores it byte for byte.
 */
export type JpegLmJoinLayout = 'jpeg-lm' | 'interchange';

function tableSegmentsOf(tables: Uint8Array): Uint8Array[] {
  if (tables.length < 4 || tables[0] !== 0xff || tables[1] !== Marker.SOI) {
    throw new CodecError('not-an-image', 'tables file does not start with SOI');
  }
  if (tables[tables.length - 2] !== 0xff || tables[tables.length - 1] !== Marker.EOI) {
    throw new CodecError('truncated', 'tables file does not end with EOI');
  }
  const segs: Uint8Array[] = [];
  let i = 2;
  while (i < tables.length - 2) {
    if (tables[i] !== 0xff || i + 3 >= tables.length) {
      throw new CodecError('corrupt', `tables file: expected a marker at byte ${i}`, i);
    }
    const marker = tables[i + 1];
    if (!isTable(marker)) {
      throw new CodecError(
        'corrupt',
        `tables file holds a 0xFF${marker.toString(16).toUpperCase()} segment; only DQT and DHT belong there`,
        i,
      );
    }
    const end = i + 2 + ((tables[i + 2] << 8) | tables[i + 3]);
    if (end > tables.length - 2) {
      throw new CodecError('truncated', `tables file: segment at byte ${i} runs past EOI`, i);
    }
    segs.push(tables.subarray(i, end));
    i = end;
  }
  return segs;
}

/** Rebuild a decodable JPEG from an image-only stream and a tables-only file. */
export function joinJpegLm(
  imageOnly: Uint8Array,
  tables: Uint8Array,
  layout: JpegLmJoinLayout = 'interchange',
): Uint8Array {
  const tableSegs = tableSegmentsOf(tables);
  const { segments } = readHeaderLayout(imageOnly);
  if (segments.some((s) => isTable(s.marker))) {
    throw new CodecError('invalid-argument', 'image stream already carries DQT/DHT tables');
  }
  const total = imageOnly.length + tables.length - 4;
  const out = new Uint8Array(total);
  let o = 0;
  const put = (b: Uint8Array): void => {
    out.set(b, o);
    o += b.length;
  };
  put(imageOnly.subarray(0, 2));
  if (layout === 'jpeg-lm') {
    put(tables.subarray(2, tables.length - 2));
    put(imageOnly.subarray(2));
    return out;
  }
  const dqt = tableSegs.filter((s) => s[1] === Marker.DQT);
  const dht = tableSegs.filter((s) => s[1] === Marker.DHT);
  let sawFrame = false;
  let dqtDone = false;
  let dhtDone = false;
  let afterHeader = 2;
  for (const s of segments) {
    const isFrame = isFrameMarker(s.marker);
    if (isFrame && !dqtDone) {
      dqt.forEach(put);
      dqtDone = true;
    }
    if (sawFrame && !dhtDone && (s.marker === Marker.DRI || s.marker === Marker.SOS)) {
      dht.forEach(put);
      dhtDone = true;
    }
    if (isFrame) sawFrame = true;
    put(imageOnly.subarray(s.offset, s.end));
    afterHeader = s.end;
  }
  if (!dqtDone || !dhtDone) {
    throw new CodecError('corrupt', 'image stream has no frame header (SOF) before its scan');
  }
  put(imageOnly.subarray(afterHeader));
  return out;
}

/** The text JPEG-LM's tokenizer reads for a canonical JPEG: its image-only stream in Braille. */
export function toJpegLmText(jpeg: Uint8Array): string {
  return bytesToBraille(splitForJpegLm(jpeg).imageOnly);
}

/** Inverse of toJpegLmText given the tables file; `layout` as in joinJpegLm. */
export function fromJpegLmText(
  text: string,
  tables: Uint8Array,
  layout: JpegLmJoinLayout = 'interchange',
): Uint8Array {
  return joinJpegLm(brailleToBytes(text), tables, layout);
}

/**
 * A Hugging Face `tokenizer.json` (BPE model) equivalent to `bpe` on JPEG-LM's Braille text:
 * byte b is the token U+2800+b with id b, merge k is the concatenation of its parts with id
 * 256 + k, and a Split pre-tokenizer isolates every restart marker and EOI so no merge reaches
 * across one, as in bpe.ts. HF tokenizers (Python `tokenizers`, transformers.js) then cut the
 * text exactly where BytePairEncoding.encode cuts the bytes. Two merges can spell the same
 * string (a+bc and ab+c); a string-keyed vocabulary keeps the first id for both.
 */
export function bpeToHuggingFaceJson(bpe: BytePairEncoding): Record<string, unknown> {
  const text = (id: number): string => bytesToBraille(bpe.tokenBytes(id));
  const vocab: Record<string, number> = {};
  for (let id = 0; id < bpe.vocabSize; id++) {
    const t = text(id);
    if (!(t in vocab)) vocab[t] = id;
  }
  const ch = (b: number): string => String.fromCharCode(BRAILLE_OFFSET + b);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: {
      type: 'Split',
      pattern: { Regex: `${ch(0xff)}[${ch(0xd0)}-${ch(0xd7)}${ch(0xd9)}]` },
      behavior: 'Isolated',
      invert: false,
    },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      // Braille characters hold no space, so the classic "left right" form is unambiguous.
      merges: bpe.merges.map(([a, b]) => `${text(a)} ${text(b)}`),
    },
  };
}
