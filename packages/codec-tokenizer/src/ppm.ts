/**
 * Binary Netpbm images: PPM (P6, RGB) and PGM (P5, grey, expanded to RGB on read), maxval
 * 1..65535 (two bytes per sample, big-endian, above 255). Samples are rescaled to 0..255 the
 * way cjpeg's rdppm.c does it, round(v * 255 / maxval) with ties up, so a PPM read here encodes
 * exactly as cjpeg encodes the same file. Only the first image of a multi-image stream is read.
 */
import { CodecError } from './errors.js';
import { DEFAULT_MAX_MEGAPIXELS, type RgbImage } from './image.js';

export interface ReadPpmOptions {
  /** Refuse images above this many megapixels (width * height / 1e6) before allocating. */
  readonly maxMegapixels?: number;
}

const P = 0x50;
const HASH = 0x23;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
}

class HeaderReader {
  pos = 2;
  constructor(private readonly bytes: Uint8Array) {}

  /** Skips whitespace and comments, then reads one decimal field. */
  number(name: string): number {
    const b = this.bytes;
    for (;;) {
      if (this.pos >= b.length)
        throw new CodecError('truncated', `PPM header ends before the ${name}`, this.pos);
      const c = b[this.pos];
      if (isSpace(c)) this.pos++;
      else if (c === HASH) {
        while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
      } else break;
    }
    const start = this.pos;
    let value = 0;
    while (this.pos < b.length && b[this.pos] >= 0x30 && b[this.pos] <= 0x39) {
      value = value * 10 + (b[this.pos] - 0x30);
      this.pos++;
      if (this.pos - start > 9)
        throw new CodecError('corrupt', `PPM ${name} has too many digits`, start);
    }
    if (this.pos === start)
      throw new CodecError('corrupt', `PPM ${name} is not a decimal number`, start);
    if (this.pos >= b.length)
      throw new CodecError('truncated', `PPM header ends after the ${name}`, this.pos);
    if (!isSpace(b[this.pos]) && b[this.pos] !== HASH) {
      throw new CodecError('corrupt', `PPM ${name} is followed by an unexpected byte`, this.pos);
    }
    return value;
  }
}

/** Parses a binary PPM (P6) or PGM (P5) file into an RGB image. */
export function readPpm(bytes: Uint8Array, options: ReadPpmOptions = {}): RgbImage {
  const maxMegapixels = options.maxMegapixels ?? DEFAULT_MAX_MEGAPIXELS;
  if (!(typeof maxMegapixels === 'number' && maxMegapixels > 0)) {
    throw new CodecError(
      'invalid-argument',
      `maxMegapixels must be a positive number, got ${maxMegapixels}`,
    );
  }
  if (bytes.length < 2 || bytes[0] !== P || (bytes[1] !== 0x36 && bytes[1] !== 0x35)) {
    throw new CodecError('not-an-image', 'not a binary PPM/PGM file (expected "P6" or "P5")', 0);
  }
  const channels = bytes[1] === 0x36 ? 3 : 1;
  if (bytes.length === 2)
    throw new CodecError('truncated', 'PPM header ends after the magic number', 2);
  if (!isSpace(bytes[2]) && bytes[2] !== HASH) {
    throw new CodecError(
      'not-an-image',
      'not a binary PPM/PGM file (no whitespace after the magic number)',
      2,
    );
  }
  const header = new HeaderReader(bytes);
  const width = header.number('width');
  const height = header.number('height');
  const maxval = header.number('maxval');
  if (width < 1 || height < 1) {
    throw new CodecError('corrupt', `PPM dimensions ${width}x${height} are empty`);
  }
  if (maxval < 1 || maxval > 65535) {
    throw new CodecError('corrupt', `PPM maxval ${maxval} is outside 1..65535`);
  }
  if ((width * height) / 1e6 > maxMegapixels) {
    throw new CodecError(
      'too-large',
      `PPM image ${width}x${height} exceeds the limit of ${maxMegapixels} megapixels`,
    );
  }
  // Exactly one whitespace byte separates maxval from the raster; a comment is not allowed here.
  if (bytes[header.pos] === HASH) {
    throw new CodecError(
      'corrupt',
      'PPM maxval must be followed by a single whitespace byte',
      header.pos,
    );
  }
  const start = header.pos + 1;
  const bytesPerSample = maxval > 255 ? 2 : 1;
  const samples = width * height * channels;
  const needed = samples * bytesPerSample;
  if (bytes.length - start < needed) {
    throw new CodecError(
      'truncated',
      `PPM raster has ${Math.max(0, bytes.length - start)} bytes, ${needed} expected`,
      bytes.length,
    );
  }

  const data = new Uint8Array(width * height * 3);
  const raster = bytes.subarray(start, start + needed);
  if (channels === 3 && maxval === 255) {
    data.set(raster);
    return { width, height, data };
  }
  const rescale = buildRescale(maxval);
  for (let i = 0; i < samples; i++) {
    const v = bytesPerSample === 1 ? raster[i] : (raster[2 * i] << 8) | raster[2 * i + 1];
    if (v > maxval) {
      throw new CodecError(
        'corrupt',
        `PPM sample ${v} exceeds maxval ${maxval}`,
        start + i * bytesPerSample,
      );
    }
    const s = rescale[v];
    if (channels === 3) data[i] = s;
    else {
      data[3 * i] = s;
      data[3 * i + 1] = s;
      data[3 * i + 2] = s;
    }
  }
  return { width, height, data };
}

/** rdppm.c: rescale[v] = (v * 255 + maxval / 2) / maxval, integer division. */
function buildRescale(maxval: number): Uint8Array {
  const table = new Uint8Array(maxval + 1);
  const half = Math.floor(maxval / 2);
  for (let v = 0; v <= maxval; v++) table[v] = Math.floor((v * 255 + half) / maxval);
  return table;
}

/** Serialises an RGB image as a binary PPM (P6, maxval 255). */
export function writePpm(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new CodecError(
      'invalid-argument',
      `image dimensions ${width}x${height} are not positive integers`,
    );
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new CodecError('invalid-argument', `RGB image data must hold ${width}x${height}x3 bytes`);
  }
  const head = new TextEncoder().encode(`P6\n${width} ${height}\n255\n`);
  const out = new Uint8Array(head.length + data.length);
  out.set(head, 0);
  out.set(data, head.length);
  return out;
}
