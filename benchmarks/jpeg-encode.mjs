// Canonical JPEG encode speed (issue 2 section 6): ms per 256x256 image at quality 25, 4:2:0,
// restart every MCU, for our pure-TypeScript encoder against two peers in the same run:
//   - jpeg-js (pure JS; its encoder object reused, since encode() rebuilds all tables per call).
//     jpeg-js only writes 4:4:4 without restart markers, so it does ~1.5x more DCT work.
//   - sharp (libvips + libjpeg-turbo, native) from raw RGB with optimiseCoding and mozjpeg off.
//     libvips writes no restart markers; each call also pays sharp's pipeline set-up.
// Medians over several runs, runs interleaved between the encoders so they share machine noise.
// Wall-clock time and process CPU time (all threads) are both reported: on a shared machine the
// CPU time is the steadier figure; sharp may use more than one thread per call.
//
// Usage: npx tsc -b && node benchmarks/jpeg-encode.mjs [--runs 9] [--iterations 200] [FILE.ppm ...]
// Without files two deterministic sets of 256x256 images are timed: "photo-like" (first frames of
// ffmpeg lavfi sources with smooth areas, detail and grain; 5-7 KB at q25, like photos) and
// "high-entropy" (binary cellular automata; ~20-27 KB at q25, the entropy coder's worst case).
// With files, those PPMs form one set.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { JpegEncoder, readPpm } from '../packages/codec-tokenizer/dist/index.js';
import { lavfiRgb } from './lib/bench.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  argv.splice(i, 2);
  return value;
};
const RUNS = option('--runs', 9);
const ITERATIONS = option('--iterations', 200);
const SIZE = 256;
const QUALITY = 25;

function lavfi(name, spec) {
  return { name, width: SIZE, height: SIZE, data: new Uint8Array(lavfiRgb(spec, SIZE, SIZE)) };
}

const size = `size=${SIZE}x${SIZE}`;
const sets =
  argv.length > 0
    ? [
        {
          name: 'files',
          images: argv.map((file) => ({ name: file, ...readPpm(readFileSync(file)) })),
        },
      ]
    : [
        {
          name: 'photo-like',
          images: [
            lavfi('mandelbrot', `mandelbrot=${size}`),
            lavfi(
              'mandelbrot-zoom',
              `mandelbrot=${size}:start_scale=0.05:start_x=-0.7436:start_y=0.1318`,
            ),
            lavfi('testsrc2-grain', `testsrc2=${size},noise=alls=25:allf=u:all_seed=3`),
            lavfi(
              'testsrc2-soft',
              `testsrc2=${size},gblur=sigma=1.5,noise=alls=10:allf=u:all_seed=3`,
            ),
          ],
        },
        {
          name: 'high-entropy',
          images: [
            lavfi('cellauto', `cellauto=${size}:rule=30:seed=12345:random_fill_ratio=0.5`),
            lavfi('sierpinski', `sierpinski=${size}:seed=3`),
          ],
        },
      ];

// jpeg-js exports only encode(), which builds a new JPEGEncoder (all tables) on every call.
// To time the reusable encoder its module is evaluated here and the constructor taken from it.
const require = createRequire(import.meta.url);
const jpegJsSource = readFileSync(require.resolve('jpeg-js/lib/encoder.js'), 'utf8');
const JpegJsEncoder = new Function('module', 'require', `${jpegJsSource}\nreturn JPEGEncoder;`)(
  { exports: {} },
  require,
);
const toRgba = ({ width, height, data }) => {
  const out = Buffer.alloc(width * height * 4);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    out[j] = data[i];
    out[j + 1] = data[i + 1];
    out[j + 2] = data[i + 2];
    out[j + 3] = 255;
  }
  return { width, height, data: out };
};

const ours = new JpegEncoder({ quality: QUALITY, restartInterval: 1, subsampling: '4:2:0' });
const jpegJs = new JpegJsEncoder(QUALITY);
const sharpOptions = {
  quality: QUALITY,
  chromaSubsampling: '4:2:0',
  optimiseCoding: false,
  mozjpeg: false,
};
const sharpEncode = (img) =>
  sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .jpeg(sharpOptions)
    .toBuffer();

function contendersFor(images) {
  const rgba = images.map(toRgba);
  return [
    { name: 'jpeglm (TypeScript)', run: (i) => ours.encode(images[i]).length },
    { name: 'jpeg-js, reused encoder (4:4:4)', run: (i) => jpegJs.encode(rgba[i], QUALITY).length },
    {
      name: 'sharp / libjpeg-turbo, per call',
      run: async (i) => (await sharpEncode(images[i])).length,
    },
  ];
}

/** Wall-clock and process CPU time (all threads, user + system) per image, in ms. */
async function timeRun(contender, count, iterations) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < iterations; k++) await contender.run(k % count);
  const wall = (performance.now() - t0) / iterations;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 / iterations };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `JPEG encode ${SIZE}x${SIZE}, quality ${QUALITY}, ours 4:2:0 with a restart marker per MCU`,
);
console.log(
  `${RUNS} runs per encoder, interleaved; node ${process.version}; ${cpu}, ${os.cpus().length} cores`,
);
for (const { name, images } of sets) {
  const contenders = contendersFor(images);
  // Warm-up: JIT tiers for the JS encoders, libvips start-up for sharp.
  for (const c of contenders) await timeRun(c, images.length, Math.max(50, ITERATIONS));
  const samples = contenders.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    for (let c = 0; c < contenders.length; c++) {
      // jpeg-js is several times slower; fewer iterations keep the run time reasonable.
      const n = c === 1 ? Math.max(images.length * 2, ITERATIONS >> 3) : ITERATIONS;
      samples[c].push(await timeRun(contenders[c], images.length, n));
    }
  }
  const wall = samples.map((runs) => median(runs.map((r) => r.wall)));
  const cpuTime = samples.map((runs) => median(runs.map((r) => r.cpu)));
  console.log('');
  console.log(`${name}: ${images.map((i) => i.name).join(', ')}`);
  console.log('');
  console.log(
    '| encoder | wall ms/image (median) | min..max of runs | CPU ms/image (median) | mean bytes | wall / jpeglm | CPU / jpeglm |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (let c = 0; c < contenders.length; c++) {
    let bytes = 0;
    for (let i = 0; i < images.length; i++) bytes += await contenders[c].run(i);
    const ws = samples[c].map((r) => r.wall);
    console.log(
      `| ${contenders[c].name} | ${wall[c].toFixed(3)} | ${Math.min(...ws).toFixed(3)}..${Math.max(...ws).toFixed(3)} | ${cpuTime[c].toFixed(3)} | ${Math.round(bytes / images.length)} | ${(wall[c] / wall[0]).toFixed(2)} | ${(cpuTime[c] / cpuTime[0]).toFixed(2)} |`,
    );
  }
}
console.log('');
console.log(
  `load average at the end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
