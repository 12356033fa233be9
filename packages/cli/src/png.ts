/**
 * A minimal PNG writer for RGB images (ISO/IEC 15948: signature, IHDR, one IDAT of zlib data
 * with filter type 0 on every row, IEND), and a grid of equal-size tiles for sample sheets.
 */
import { deflateSync } from 'node:zlib';
import type { RgbImage } from '@jpeglm/codec-tokenizer';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** CRC-32 of PNG chunks (ISO 3309 polynomial, reflected), PNG spec Annex D. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export function encodePng(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * Tiles of one size laid out in rows (row r holds rows[r], left to right), `gap` pixels of
 * white between and around them.
 */
export function tileGrid(rows: readonly (readonly RgbImage[])[], gap = 2): RgbImage {
  const first = rows.find((r) => r.length > 0)?.[0];
  if (!first) throw new Error('tileGrid: no tiles');
  const tw = first.width;
  const th = first.height;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = gap + cols * (tw + gap);
  const height = gap + rows.length * (th + gap);
  const data = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, r) =>
    row.forEach((tile, c) => {
      if (tile.width !== tw || tile.height !== th)
        throw new Error('tileGrid: tiles differ in size');
      const x0 = gap + c * (tw + gap);
      const y0 = gap + r * (th + gap);
      for (let y = 0; y < th; y++) {
        data.set(tile.data.subarray(y * tw * 3, (y + 1) * tw * 3), ((y0 + y) * width + x0) * 3);
      }
    }),
  );
  return { width, height, data };
}
