import { spawnSync } from 'node:child_process';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  canonicalHeader,
  canonicalizeImage,
  canonicalizeRgb,
  checkCanonicalJpeg,
  cropOrPad,
  customProfile,
  decodeImage,
  encodeJpeg,
  fitGeometry,
  fitImage,
  getProfile,
  isCanonicalJpeg,
  probeImage,
  readHeaderLayout,
  sniffImageFormat,
  writePpm,
  type RgbImage,
} from '../src/index.js';
import { lavfiImage, noiseImage } from './fixtures/images.js';
import { cjpeg, djpegRgb } from './helpers/peers.js';

async function rawToPng(img: RgbImage, channels: 3 | 4 = 3): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels } })
      .png()
      .toBuffer(),
  );
}

/** An image whose every pixel is `rgb`. */
function solid(width: number, height: number, rgb: readonly number[], channels = 3): RgbImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i += channels) data.set(rgb.slice(0, channels), i);
  return { width, height, data };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

const P256 = getProfile('jpeglm-256-q25');
const P64 = getProfile('jpeglm-64-q50');

describe('exactness for images already at the profile size', () => {
  it('PPM and PNG inputs give the bytes cjpeg writes', async () => {
    const profiles = [P256, P64, customProfile({ width: 17, height: 9, subsampling: '4:4:4' })];
    for (const p of profiles) {
      const img = lavfiImage('mandelbrot', p.width, p.height);
      const ppm = writePpm(img);
      const ref = cjpeg(ppm, p);
      expect(await canonicalizeImage(ppm, p), p.name).toEqual(ref);
      expect(await canonicalizeImage(await rawToPng(img), p), p.name).toEqual(ref);
      expect(canonicalizeRgb(img, p)).toEqual(ref);
    }
  });

  it('returns a file that is already canonical unchanged (no second generation loss)', async () => {
    const jpeg = canonicalizeRgb(lavfiImage('testsrc2', 64, 64), P64);
    expect(isCanonicalJpeg(jpeg, P64)).toBe(true);
    expect(await canonicalizeImage(jpeg, P64)).toEqual(jpeg);
    // Damaged Huffman data inside an intact marker structure is not canonical.
    const h = canonicalHeader(P64).length;
    let damaged: Uint8Array | undefined;
    for (let i = h + 3; damaged === undefined && i < jpeg.length - 2; i += 5) {
      if (jpeg[i] === 0xff || jpeg[i - 1] === 0xff) continue;
      const m = jpeg.slice();
      m[i] ^= 0xff;
      if (m[i] !== 0xff && !isCanonicalJpeg(m, P64)) damaged = m;
    }
    expect(damaged).toBeDefined();
    expect(isCanonicalJpeg(damaged as Uint8Array, P64, { decode: false })).toBe(true);
    expect(() => checkCanonicalJpeg(damaged as Uint8Array, P64)).toThrow(
      /^damaged scan data at byte \d+(, MCU \d+)?: /,
    );
    expect(await canonicalizeImage(damaged as Uint8Array, P64).catch(() => 'refused')).not.toEqual(
      damaged,
    );
    const again = await canonicalizeImage(jpeg, P64, { keepCanonical: false });
    expect(again).not.toEqual(jpeg);
    expect(isCanonicalJpeg(again, P64)).toBe(true);
  });
});

describe('decoding arbitrary inputs', () => {
  it('flattens alpha onto the background colour', async () => {
    const rgba = solid(8, 8, [0, 0, 255, 255], 4);
    for (let i = 3; i < 8 * 4 * 4; i += 4) rgba.data[i] = 0; // top half fully transparent
    for (let i = 8 * 4 * 4 + 3; i < 8 * 6 * 4; i += 4) rgba.data[i] = 128; // rows 4-5 half
    const png = await rawToPng(rgba, 4);
    const img = await decodeImage(png, { background: [255, 0, 0] });
    expect(pixel(img, 3, 1)).toEqual([255, 0, 0]);
    expect(pixel(img, 3, 7)).toEqual([0, 0, 255]);
    const half = pixel(img, 3, 4);
    expect(half[0]).toBeGreaterThan(100);
    expect(half[0]).toBeLessThan(155);
    expect(half[2]).toBeGreaterThan(100);
    expect(pixel(await decodeImage(png), 0, 0)).toEqual([255, 255, 255]);
  });

  it('applies EXIF orientation', async () => {
    // 32x16, left half black, right half white, stored with orientation 6 (rotate 90 clockwise).
    const img = solid(32, 16, [0, 0, 0]);
    for (let y = 0; y < 16; y++)
      for (let x = 16; x < 32; x++) img.data.fill(255, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const jpeg = await sharp(img.data, { raw: { width: 32, height: 16, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const out = await decodeImage(new Uint8Array(jpeg));
    expect([out.width, out.height]).toEqual([16, 32]);
    expect(await probeImage(new Uint8Array(jpeg))).toEqual({
      format: 'jpeg',
      width: 16,
      height: 32,
    });
    expect(await probeImage(writePpm(img))).toEqual({ format: 'ppm', width: 32, height: 16 });
    expect(pixel(out, 8, 4)[0]).toBeLessThan(40); // the left (black) half is now on top
    expect(pixel(out, 8, 28)[0]).toBeGreaterThan(215);
  });

  it('reads progressive and CMYK JPEG, WebP, 16-bit PNG and the first GIF frame', async () => {
    const src = lavfiImage('testsrc2', 64, 48);
    const base = sharp(src.data, { raw: { width: 64, height: 48, channels: 3 } });
    const meanError = (a: RgbImage): number => {
      let e = 0;
      for (let i = 0; i < a.data.length; i++) e += Math.abs(a.data[i] - src.data[i]);
      return e / a.data.length;
    };
    const progressive = await base.clone().jpeg({ quality: 95, progressive: true }).toBuffer();
    expect(sniffImageFormat(progressive)).toBe('jpeg');
    const fromProgressive = await decodeImage(new Uint8Array(progressive));
    const reference = djpegRgb(new Uint8Array(progressive));
    let diff = 0;
    for (let i = 0; i < reference.data.length; i++)
      diff += Math.abs(reference.data[i] - fromProgressive.data[i]);
    expect(diff / reference.data.length).toBeLessThan(0.5); // libjpeg-turbo's own decode
    const webp = await base.clone().webp({ lossless: true }).toBuffer();
    expect(await decodeImage(new Uint8Array(webp))).toEqual(src);
    const png16 = await base.clone().toColourspace('rgb16').png().toBuffer();
    const d16 = await decodeImage(new Uint8Array(png16));
    expect(d16.data.length).toBe(64 * 48 * 3);
    expect(meanError(d16)).toBeLessThan(1);

    const red = solid(16, 16, [255, 0, 0]);
    const cmyk = await sharp(red.data, { raw: { width: 16, height: 16, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const fromCmyk = pixel(await decodeImage(new Uint8Array(cmyk)), 8, 8);
    expect(fromCmyk[0]).toBeGreaterThan(180);
    expect(fromCmyk[1]).toBeLessThan(90);
    expect(fromCmyk[2]).toBeLessThan(90);

    const gif = spawnSync(
      'ffmpeg',
      [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'color=c=red:s=16x16:r=2:d=1',
        '-f',
        'lavfi',
        '-i',
        'color=c=blue:s=16x16:r=2:d=1',
        '-filter_complex',
        '[0][1]concat=n=2',
        '-f',
        'gif',
        '-',
      ],
      { maxBuffer: 1 << 24 },
    );
    expect(gif.status).toBe(0);
    expect((await sharp(gif.stdout, { pages: -1 }).metadata()).pages).toBeGreaterThan(1);
    const first = await decodeImage(new Uint8Array(gif.stdout));
    expect([first.width, first.height]).toEqual([16, 16]);
    expect(pixel(first, 5, 5)[0]).toBeGreaterThan(200);
    expect(pixel(first, 5, 5)[2]).toBeLessThan(50);
  });
});

describe('crop, pad and resize', () => {
  it('computes centred windows with round-down offsets', () => {
    expect(fitGeometry(640, 480, P256)).toEqual({
      mode: 'crop',
      width: 480,
      height: 480,
      left: 80,
      top: 0,
    });
    expect(fitGeometry(101, 200, P256)).toEqual({
      mode: 'crop',
      width: 101,
      height: 101,
      left: 0,
      top: 49,
    });
    expect(fitGeometry(640, 480, { ...P256, fit: 'pad' })).toEqual({
      mode: 'pad',
      width: 640,
      height: 640,
      left: 0,
      top: 80,
    });
    expect(fitGeometry(90, 60, { width: 40, height: 20, fit: 'crop' })).toEqual({
      mode: 'crop',
      width: 90,
      height: 45,
      left: 0,
      top: 7,
    });
  });

  it('crops and pads by exact pixel copies', () => {
    const img: RgbImage = {
      width: 3,
      height: 1,
      data: Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3]),
    };
    expect(Array.from(cropOrPad(img, P256).data)).toEqual([2, 2, 2]);
    const padded = cropOrPad(img, { ...P256, fit: 'pad', background: [9, 8, 7] });
    expect([padded.width, padded.height]).toEqual([3, 3]);
    expect(Array.from(padded.data)).toEqual([
      9, 8, 7, 9, 8, 7, 9, 8, 7, 1, 1, 1, 2, 2, 2, 3, 3, 3, 9, 8, 7, 9, 8, 7, 9, 8, 7,
    ]);
  });

  it('keeps only the centre square: borders outside it never reach the output', async () => {
    // 640x480: 80-px green bands left and right, blue in the centre 480x480.
    const img = solid(640, 480, [0, 0, 255]);
    for (let y = 0; y < 480; y++) {
      img.data.fill(0, y * 1920, y * 1920 + 240);
      img.data.fill(0, y * 1920 + 1680, (y + 1) * 1920);
      for (let x = 0; x < 640; x++) if (x < 80 || x >= 560) img.data[(y * 640 + x) * 3 + 1] = 255;
    }
    const fitted = await fitImage(img, P64);
    expect([fitted.width, fitted.height]).toEqual([64, 64]);
    for (let i = 0; i < fitted.data.length; i += 3) {
      expect(Array.from(fitted.data.subarray(i, i + 3))).toEqual([0, 0, 255]);
    }
    const jpeg = await canonicalizeImage(await rawToPng(img), P64);
    expect(isCanonicalJpeg(jpeg, P64)).toBe(true);
    const decoded = djpegRgb(jpeg);
    expect(pixel(decoded, 0, 32)[1]).toBeLessThan(40);
  });

  it('pads with the background colour and resizes to the profile', async () => {
    const img = solid(480, 240, [0, 0, 255]);
    const p = {
      ...P64,
      fit: 'pad' as const,
      background: [255, 255, 0] as [number, number, number],
    };
    const fitted = await fitImage(img, p);
    expect(pixel(fitted, 32, 2)).toEqual([255, 255, 0]);
    expect(pixel(fitted, 32, 32)).toEqual([0, 0, 255]);
    expect(pixel(fitted, 32, 61)).toEqual([255, 255, 0]);
    const jpeg = await canonicalizeImage(await rawToPng(img), p);
    const h = readHeaderLayout(jpeg).headerEnd;
    expect(jpeg.subarray(0, h)).toEqual(canonicalHeader(p));
  });

  it('the synchronous raw path crops but refuses to resample', () => {
    const img = noiseImage(80, 64, 4);
    expect(canonicalizeRgb(img, P64)).toEqual(encodeJpeg(cropOrPad(img, P64), { quality: 50 }));
    expect(() => canonicalizeRgb(noiseImage(100, 100, 1), P64)).toThrow(/not the profile's 64x64/);
  });
});

describe('bad input', () => {
  async function reason(bytes: Uint8Array, options = {}): Promise<string> {
    try {
      await canonicalizeImage(bytes, P64, options);
    } catch (e) {
      expect(e).toBeInstanceOf(CodecError);
      return `${(e as CodecError).code}: ${(e as Error).message}`;
    }
    return 'accepted';
  }

  it('refuses absurd dimensions from the header, before decoding', async () => {
    const jpeg = canonicalizeRgb(lavfiImage('testsrc2', 64, 64), P64);
    const sof = jpeg.findIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xc0);
    const huge = jpeg.slice();
    huge.set([0xea, 0x60, 0xea, 0x60], sof + 5); // 60000 x 60000
    expect(await reason(huge)).toMatch(
      /^too-large: image is 60000x60000 \(3600\.0 megapixels\), above the limit of 64/,
    );

    const png = Buffer.from(await rawToPng(solid(4, 4, [1, 2, 3])));
    png.writeUInt32BE(60000, 16);
    png.writeUInt32BE(60000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    expect(await reason(new Uint8Array(png))).toMatch(/^too-large: image is 60000x60000/);

    const ppm = new TextEncoder().encode('P6\n60000 60000\n255\n');
    expect(await reason(ppm)).toMatch(/^too-large: .*60000x60000/);
    expect(
      await reason(await rawToPng(solid(64, 64, [1, 2, 3])), { maxMegapixels: 0.001 }),
    ).toMatch(/^too-large/);
  });

  it('refuses empty, non-image, truncated and corrupt files with typed errors', async () => {
    const png = await rawToPng(lavfiImage('mandelbrot', 64, 64));
    const jpeg = new Uint8Array(await sharp(Buffer.from(png)).jpeg({ quality: 90 }).toBuffer());
    expect(await reason(new Uint8Array(0))).toMatch(/^not-an-image: empty/);
    expect(await reason(new TextEncoder().encode('hello, world\n'))).toMatch(/^not-an-image/);
    expect(
      await reason(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')),
    ).toMatch(/^not-an-image/);
    expect(await reason(png.subarray(0, png.length / 2))).toMatch(/^(truncated|corrupt): /);
    expect(await reason(jpeg.subarray(0, jpeg.length / 2))).toMatch(/^(truncated|corrupt): /);
    expect(await reason(jpeg.subarray(0, 100))).toMatch(/^(truncated|corrupt): /);
    const canonical = canonicalizeRgb(lavfiImage('mandelbrot', 64, 64), P64);
    expect(await reason(canonical.subarray(0, canonical.length - 100))).toMatch(
      /^(truncated|corrupt): /,
    );
    const flipped = jpeg.slice();
    for (let i = 700; i < flipped.length - 2; i += 7) flipped[i] ^= 0x5a;
    expect(await reason(flipped)).toMatch(/^corrupt: cannot decode JPEG image \(Corrupt JPEG data/);
    const garbage = png.slice();
    for (let i = 60; i < garbage.length; i += 7) garbage[i] ^= 0x5a;
    expect(await reason(garbage)).toMatch(/^(truncated|corrupt): /);
    await expect(decodeImage(png, { maxMegapixels: -1 })).rejects.toThrow(/maxMegapixels/);
  });
});
