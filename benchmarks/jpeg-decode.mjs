// JPEG decode speed (issue 2 section 6; target <= 1.0 ms per 256x256 quality-25 4:2:0 image in
// pure TypeScript). Same files, same run: our decodeJpeg, jpeg-js (pure JS), and sharp
// (libjpeg-turbo, decode to raw RGB). Before timing, every file is checked: our pixels must
// equal djpeg -dct int exactly, and the largest difference of jpeg-js from djpeg is reported.
//
// Corpus: JPEG-LM form (256x256, quality 25, 4:2:0, restart marker after every MCU) of
// photo-like frames rendered by Debian ffmpeg's lavfi sources, encoded by cjpeg.
//
// Usage: npx tsc -b && node benchmarks/jpeg-decode.mjs [--runs 7] [--images 24]
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import jpegJs from 'jpeg-js';
import sharp from 'sharp';
import { decodeJpeg } from '../packages/codec-tokenizer/dist/index.js';
import { lavfiRgb } from './lib/bench.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('--runs', 7);
const IMAGES = arg('--images', 24);
const SIZE = 256;

/** Frames of lavfi sources (all deterministic): fractal, test card, cellular textures, bars, smooth waves with grain. */
const SOURCES = [
  'mandelbrot=size=256x256',
  'testsrc2=size=256x256',
  'cellauto=size=256x256:rule=110:random_fill_ratio=0.4:seed=7,gblur=sigma=1.5',
  'smptehdbars=size=256x256',
  "nullsrc=size=256x256,geq=r='128+100*sin(X/20+N/3)*cos(Y/30)':g='128+100*sin((X+Y)/25)':b='128+80*cos(X/15-N/5)',noise=alls=12:allf=t:all_seed=5",
  'life=size=256x256:mold=10:ratio=0.3:seed=11,gblur=sigma=2',
];

function frame(source, index) {
  return lavfiRgb(source, SIZE, SIZE, `select=eq(n\\,${index * 7})`);
}

export function jpegLmCorpus(count) {
  const files = [];
  for (let i = 0; i < count; i++) {
    const rgb = frame(SOURCES[i % SOURCES.length], Math.floor(i / SOURCES.length));
    const ppm = Buffer.concat([Buffer.from(`P6\n${SIZE} ${SIZE}\n255\n`), rgb]);
    const r = spawnSync(
      'cjpeg',
      ['-quality', '25', '-sample', '2x2', '-restart', '1B', '-dct', 'int', '-baseline'],
      {
        input: ppm,
      },
    );
    if (r.status !== 0) throw new Error(`cjpeg: ${r.stderr}`);
    files.push(new Uint8Array(r.stdout));
  }
  return files;
}

function djpeg(jpeg) {
  const r = spawnSync('djpeg', ['-dct', 'int', '-ppm'], { input: jpeg, maxBuffer: 1 << 26 });
  const text = r.stdout.subarray(0, 20).toString('latin1');
  const m = /^P6\s+\d+\s+\d+\s+255\s/.exec(text);
  return r.stdout.subarray(m[0].length);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const files = jpegLmCorpus(IMAGES);
  const bytes = files.reduce((n, f) => n + f.length, 0);
  let jpegJsMax = 0;
  for (const f of files) {
    const ref = djpeg(f);
    const ours = decodeJpeg(f).data;
    for (let i = 0; i < ref.length; i++) {
      if (ours[i] !== ref[i]) throw new Error('decodeJpeg differs from djpeg');
    }
    const js = jpegJs.decode(f, { useTArray: true, formatAsRGBA: false }).data;
    for (let i = 0; i < ref.length; i++) jpegJsMax = Math.max(jpegJsMax, Math.abs(js[i] - ref[i]));
  }
  sharp.concurrency(1);
  const variants = {
    'ours: decodeJpeg (TypeScript)': async () => {
      for (const f of files) decodeJpeg(f);
    },
    'jpeg-js decode (JavaScript)': async () => {
      for (const f of files) jpegJs.decode(f, { useTArray: true, formatAsRGBA: false });
    },
    'sharp decode to raw RGB (libjpeg-turbo, per call)': async () => {
      for (const f of files) await sharp(f).raw().toBuffer();
    },
  };
  // Let V8 reach its optimising tier before timing (about a second of each JavaScript decoder).
  for (const fn of [
    variants['ours: decodeJpeg (TypeScript)'],
    variants['jpeg-js decode (JavaScript)'],
  ]) {
    for (const t = performance.now(); performance.now() - t < 1000;) await fn();
  }
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  // Each measurement repeats the corpus REPS times (about a quarter of a second for ours), so
  // garbage collection and timer noise average out within it.
  const REPS = 10;
  for (const run of [...Array(RUNS + 1).keys()]) {
    for (const [name, fn] of Object.entries(variants)) {
      const c = process.cpuUsage();
      const t = performance.now();
      for (let k = 0; k < REPS; k++) await fn();
      const used = process.cpuUsage(c);
      if (run === 0) continue; // warm-up
      times[name].push((performance.now() - t) / (REPS * files.length));
      cpu[name].push((used.user + used.system) / 1000 / (REPS * files.length));
    }
  }
  console.log(
    `${files.length} images, ${(bytes / files.length).toFixed(0)} bytes on average; median of ${RUNS} runs`,
  );
  console.log(
    'our pixels equal djpeg -dct int on every file; jpeg-js differs from djpeg by up to',
    jpegJsMax,
  );
  const ours = median(times['ours: decodeJpeg (TypeScript)']);
  const oursCpu = median(cpu['ours: decodeJpeg (TypeScript)']);
  console.log('| decoder | ms/image (wall) | ms/image (CPU) | ours faster by (wall, CPU) |');
  console.log('|---|---:|---:|---:|');
  for (const name of Object.keys(times)) {
    const w = median(times[name]);
    const c = median(cpu[name]);
    console.log(
      `| ${name} | ${w.toFixed(3)} | ${c.toFixed(3)} | ${(w / ours).toFixed(2)}x, ${(c / oursCpu).toFixed(2)}x |`,
    );
  }
}

// Run only as a script: jpeg-validate.mjs imports the corpus builder.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await main();
