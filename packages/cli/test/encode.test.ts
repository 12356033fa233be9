import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { getProfile, isCanonicalJpeg, writePpm, type RgbImage } from '@jpeglm/codec-tokenizer';
import {
  lavfiImage,
  noiseImage,
  noisyGradientImage,
} from '../../codec-tokenizer/test/fixtures/images.js';
import { fileWriter } from './helpers/cli.js';
import { cjpeg, jpeglm, listDir, scratchDir } from './spawn-jpeglm.js';

const dir = scratchDir('encode');

async function png(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
}

const save = fileWriter(dir);

describe('jpeglm encode', () => {
  it('prints help', () => {
    const r = jpeglm(['encode', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/Usage: jpeglm encode \[options\] <image>/);
    expect(r.stdout.toString()).toContain('--profile <name>');
  });

  it('is byte-identical to cjpeg for PPM and PNG already at the target size', async () => {
    const images: [string, RgbImage][] = [
      ['noise-17x9', noiseImage(17, 9, 3)],
      ['gradient-33x17', noisyGradientImage(33, 17, 4)],
      ['mandelbrot-64x48', lavfiImage('mandelbrot', 64, 48)],
      ['one-pixel', noiseImage(1, 1, 9)],
    ];
    const settings: [number, number][] = [
      [1, 0],
      [25, 1],
      [50, 4],
      [75, 1],
      [100, 0],
      [90, 4],
    ];
    // Every setting on two of the images (a process per encode; the library tests sweep all Q).
    for (const [k, [name, img]] of images.entries()) {
      const ppm = writePpm(img);
      const ppmFile = save(`${name}.ppm`, ppm);
      const pngFile = save(`${name}.png`, await png(img));
      for (const [q, r] of settings.filter((_, j) => (j + k) % 2 === 0)) {
        const ref = cjpeg(ppm, q, r);
        const args = ['--quality', String(q), '--restart', String(r)];
        const fromPpm = jpeglm(['encode', ppmFile, ...args]);
        expect(fromPpm.stderr).toBe('');
        expect(fromPpm.code).toBe(0);
        expect(fromPpm.stdout.equals(ref), `${name} q${q} r${r} (PPM)`).toBe(true);
        const fromPng = jpeglm(['encode', pngFile, ...args]);
        expect(fromPng.stdout.equals(ref), `${name} q${q} r${r} (PNG)`).toBe(true);
      }
    }
  });

  it('matches cjpeg -sample 1x1 for 4:4:4 and a named profile at its size', () => {
    const img = lavfiImage('testsrc2', 64, 64);
    const file = save('t64.ppm', writePpm(img));
    const r444 = jpeglm(['encode', file, '--subsampling', '4:4:4', '--quality', '60']);
    expect(r444.stdout.equals(cjpeg(writePpm(img), 60, 1, '1x1'))).toBe(true);
    const named = jpeglm(['encode', file, '--profile', 'jpeglm-64-q50']);
    expect(named.stdout.equals(cjpeg(writePpm(img), 50, 1))).toBe(true);
  });

  it('canonicalises other sizes to the profile, reads stdin and writes -o atomically', async () => {
    const src = await png(lavfiImage('mandelbrot', 320, 200));
    const out = path.join(dir, 'canon.jpg');
    const r = jpeglm(['encode', '-', '--profile', 'jpeglm-64-q50', '-o', out], src);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    const jpeg = new Uint8Array(readFileSync(out));
    expect(isCanonicalJpeg(jpeg, getProfile('jpeglm-64-q50'))).toBe(true);
    const d = spawnSync('djpeg', ['-ppm'], { input: jpeg });
    expect(d.stdout.subarray(0, 9).toString()).toBe('P6\n64 64\n');
    expect(listDir(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // Already canonical: copied unchanged, unless --reencode.
    const again = jpeglm(['encode', out, '--profile', 'jpeglm-64-q50']);
    expect(again.stdout.equals(jpeg)).toBe(true);
    const re = jpeglm(['encode', out, '--profile', 'jpeglm-64-q50', '--reencode']);
    expect(re.stdout.equals(jpeg)).toBe(false);
    expect(isCanonicalJpeg(new Uint8Array(re.stdout), getProfile('jpeglm-64-q50'))).toBe(true);
  });

  it('overrides single profile fields, and pads with --fit pad', async () => {
    const src = save('wide.png', await png(lavfiImage('testsrc2', 96, 48)));
    const r = jpeglm(['encode', src, '--size', '32', '--fit', 'pad', '--background', '#ff0000']);
    expect(r.code).toBe(0);
    const d = spawnSync('djpeg', ['-ppm'], { input: r.stdout });
    const header = 'P6\n32 32\n255\n';
    expect(d.stdout.subarray(0, header.length).toString()).toBe(header);
    const px = d.stdout.subarray(header.length, header.length + 3); // top-left: padding
    expect(px[0]).toBeGreaterThan(200);
    expect(px[1]).toBeLessThan(60);
    const own = jpeglm(['encode', src]); // no profile, no size: keeps 96x48
    const d2 = spawnSync('djpeg', ['-ppm'], { input: own.stdout });
    expect(d2.stdout.subarray(0, 9).toString()).toBe('P6\n96 48\n');
  });

  it('rejects bad option values with the usage exit code', () => {
    const file = save('x.ppm', writePpm(noiseImage(8, 8, 1)));
    const cases: [string[], RegExp][] = [
      [['--quality', '0'], /--quality must be an integer 1\.\.100/],
      [['--quality', 'high'], /--quality/],
      [['--restart', '-1'], /--restart/],
      [['--size', '0'], /invalid size/],
      [['--subsampling', '4:2:2'], /4:2:2/],
      [['--background', 'red'], /invalid colour/],
      [['--profile', 'jpeglm-64'], /unknown profile "jpeglm-64" \(known: jpeglm-256-q25, /],
      [['--max-megapixels', '0'], /--max-megapixels/],
    ];
    for (const [args, why] of cases) {
      const r = jpeglm(['encode', file, ...args]);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toMatch(why);
    }
  });
});
