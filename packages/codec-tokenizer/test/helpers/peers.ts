/**
 * The real peers the codec tests compare against, run with argument arrays: libjpeg-turbo's
 * cjpeg/djpeg (the reference for every canonical byte) and ffmpeg's lavfi test pictures.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { writePpm, type CanonicalJpegProfile, type RgbImage } from '../../src/index.js';

const MAX_OUTPUT = 1 << 26;

/** The settings of a canonical profile that cjpeg takes as flags. */
export type CjpegSettings = Pick<
  CanonicalJpegProfile,
  'quality' | 'subsampling' | 'restartInterval'
>;

/** cjpeg with any flags, on an RGB image fed as PPM on stdin; throws with cjpeg's message. */
export function cjpegWith(image: RgbImage, args: readonly string[]): Uint8Array {
  const r = spawnSync('cjpeg', args, { input: writePpm(image), maxBuffer: MAX_OUTPUT });
  if (r.status !== 0) throw new Error(`cjpeg ${args.join(' ')}: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

/** cjpeg with the canonical settings: baseline, integer DCT, a restart marker every N MCUs. */
export function cjpeg(ppm: Uint8Array, p: CjpegSettings): Uint8Array {
  const r = spawnSync(
    'cjpeg',
    [
      '-quality',
      String(p.quality),
      '-sample',
      p.subsampling === '4:2:0' ? '2x2' : '1x1',
      '-restart',
      `${p.restartInterval}B`,
      '-dct',
      'int',
      '-baseline',
    ],
    { input: ppm, maxBuffer: MAX_OUTPUT },
  );
  expect(r.status).toBe(0);
  return new Uint8Array(r.stdout);
}

/** `cjpeg` (the canonical settings) on an RGB image, fed as PPM. */
export function cjpegImage(image: RgbImage, p: CjpegSettings): Uint8Array {
  return cjpeg(writePpm(image), p);
}

/** djpeg with the integer IDCT: the decoded picture as PPM (P6) bytes. */
export function djpegPpm(jpeg: Uint8Array): Buffer {
  const r = spawnSync('djpeg', ['-dct', 'int', '-ppm'], { input: jpeg, maxBuffer: MAX_OUTPUT });
  expect(r.status).toBe(0);
  return r.stdout;
}

/** djpeg with the integer IDCT, as an RGB image. */
export function djpegRgb(jpeg: Uint8Array): RgbImage {
  const ppm = djpegPpm(jpeg);
  const text = ppm.subarray(0, 20).toString('latin1');
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(text) as RegExpExecArray;
  return {
    width: Number(m[1]),
    height: Number(m[2]),
    data: new Uint8Array(ppm.subarray(m[0].length)),
  };
}

/** The first frame of an ffmpeg lavfi source (e.g. 'testsrc2=s=256x256') as PPM bytes. */
export function lavfiPpm(source: string): Buffer {
  const r = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      source,
      '-frames:v',
      '1',
      '-f',
      'image2pipe',
      '-c:v',
      'ppm',
      '-',
    ],
    { maxBuffer: MAX_OUTPUT },
  );
  expect(r.status).toBe(0);
  return r.stdout;
}

/** A canonical JPEG-LM file (4:2:0, restart every MCU) made by cjpeg from a lavfi picture. */
export function cjpegLavfi(source: string, quality = 25): Uint8Array {
  return cjpeg(lavfiPpm(source), { quality, subsampling: '4:2:0', restartInterval: 1 });
}
