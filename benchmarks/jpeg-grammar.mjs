// Cost of the incremental JPEG grammar mask (issue 3 section 5): microseconds per byte for
// allowedBytes() + accept(byte) over whole canonical streams, as constrained decoding does it.
// Peers in the same run: a full libjpeg-turbo decode of the same files (sharp, in-process) and
// jpeg-js's pure-JS decode, both per byte; and the grammar's own uncached path (simulating all
// 256 candidate bytes against the full state), which shows what the cached masks buy.
//
// Usage: npx tsc -b && node benchmarks/jpeg-grammar.mjs [--runs 5] [--images 24]
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import jpegJs from 'jpeg-js';
import sharp from 'sharp';
import {
  CHROMINANCE_AC_K6,
  CHROMINANCE_DC_K4,
  CHROMINANCE_QUANT_K2,
  JpegGrammar,
  LUMINANCE_AC_K5,
  LUMINANCE_DC_K3,
  LUMINANCE_QUANT_K1,
  scaleQuantTable,
} from '../packages/codec-tokenizer/dist/index.js';
import { numberOption, uniform } from './lib/bench.mjs';

const RUNS = numberOption('--runs', 5);
const IMAGES = numberOption('--images', 24);
const SIZE = 256;
const QUALITY = 25;

/** Synthetic 256x256 RGB images: smooth scenes (sums of sinusoids plus texture) and noise. */
function makeImage(i) {
  const r = uniform(i + 1);
  const px = new Uint8Array(SIZE * SIZE * 3);
  const waves = Array.from({ length: 6 }, () => [r() * 0.2, r() * 0.2, r() * 6, r() * 80]);
  const texture = i % 3 === 0 ? 60 : i % 3 === 1 ? 15 : 0;
  const pure = i % 8 === 7; // one in eight is white noise: the worst case for the scan size
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (let c = 0; c < 3; c++) {
        let v;
        if (pure) v = r() * 255;
        else {
          v = 128;
          for (const [fx, fy, ph, a] of waves)
            v += (a / 2) * Math.sin(fx * x * (c + 1) + fy * y + ph);
          v += (r() - 0.5) * texture;
        }
        px[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  const head = Buffer.from(`P6\n${SIZE} ${SIZE}\n255\n`);
  return Buffer.concat([head, px]);
}

function cjpeg(ppm) {
  const r = spawnSync(
    'cjpeg',
    ['-quality', String(QUALITY), '-sample', '2x2', '-restart', '1B', '-dct', 'int', '-baseline'],
    {
      input: ppm,
    },
  );
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return new Uint8Array(r.stdout);
}

function scanStart(jpeg) {
  let i = 2;
  for (;;) {
    const len = (jpeg[i + 2] << 8) | jpeg[i + 3];
    if (jpeg[i + 1] === 0xda) return i + 2 + len;
    i += 2 + len;
  }
}

const structure = {
  frame: {
    sofMarker: 0xc0,
    precision: 8,
    width: SIZE,
    height: SIZE,
    components: [
      { id: 1, h: 2, v: 2, quantTable: 0 },
      { id: 2, h: 1, v: 1, quantTable: 1 },
      { id: 3, h: 1, v: 1, quantTable: 1 },
    ],
  },
  tables: {
    quant: [
      scaleQuantTable(LUMINANCE_QUANT_K1, QUALITY),
      scaleQuantTable(CHROMINANCE_QUANT_K2, QUALITY),
    ],
    dcHuffman: [LUMINANCE_DC_K3, CHROMINANCE_DC_K4],
    acHuffman: [LUMINANCE_AC_K5, CHROMINANCE_AC_K6],
  },
  restartInterval: 1,
  scan: [
    { componentIndex: 0, dcTable: 0, acTable: 0 },
    { componentIndex: 1, dcTable: 1, acTable: 1 },
    { componentIndex: 2, dcTable: 1, acTable: 1 },
  ],
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** allowedBytes + accept over every scan byte of every file; returns ns per byte. */
function grammarPass(scans, uncached = false) {
  let bytes = 0;
  let sink = 0;
  const t0 = performance.now();
  for (const scan of scans) {
    const g = JpegGrammar.forStructure(structure);
    for (let i = 0; i < scan.length; i++) {
      const m = uncached ? g.allowedBytesUncached() : g.allowedBytes();
      sink += m[scan[i]];
      g.accept(scan[i]);
    }
    if (!g.complete) throw new Error('stream not complete');
    bytes += scan.length;
  }
  const t = performance.now() - t0;
  if (sink !== bytes) throw new Error('a real byte was masked out');
  return (t * 1e6) / bytes;
}

/** Random walks (uniform among allowed bytes): the adversarial case, DC values near the limits. */
function walkPass(count, seed) {
  const r = uniform(seed);
  const allowed = new Uint8Array(256);
  let bytes = 0;
  const t0 = performance.now();
  for (let w = 0; w < count; w++) {
    const g = JpegGrammar.forStructure(structure);
    while (!g.complete) {
      const m = g.allowedBytes();
      let n = 0;
      for (let v = 0; v < 256; v++) if (m[v]) allowed[n++] = v;
      g.accept(allowed[Math.floor(r() * n)]);
      bytes++;
    }
  }
  return ((performance.now() - t0) * 1e6) / bytes;
}

async function sharpPass(files) {
  let bytes = 0;
  const t0 = performance.now();
  for (const f of files) {
    await sharp(f).raw().toBuffer();
    bytes += f.length;
  }
  return ((performance.now() - t0) * 1e6) / bytes;
}

function jpegJsPass(files) {
  let bytes = 0;
  const t0 = performance.now();
  for (const f of files) {
    jpegJs.decode(f, { useTArray: true });
    bytes += f.length;
  }
  return ((performance.now() - t0) * 1e6) / bytes;
}

const files = Array.from({ length: IMAGES }, (_, i) => cjpeg(makeImage(i)));
const scans = files.map((f) => f.subarray(scanStart(f)));
const totalBytes = scans.reduce((a, s) => a + s.length, 0);

const cold = grammarPass(scans); // first pass fills the mask cache
const cachedMasks = JpegGrammar.forStructure(structure).cachedMasks;
const warm = [];
const sh = [];
const js = [];
for (let r = 0; r < RUNS; r++) {
  warm.push(grammarPass(scans));
  sh.push(await sharpPass(files));
  js.push(jpegJsPass(files));
}
const uncached = grammarPass(scans.slice(0, 2), true);
const walks = [];
for (let r = 0; r < RUNS; r++) walks.push(walkPass(4, 100 + r));

const fmt = (ns) => (ns / 1000).toFixed(3);
console.log(
  `corpus: ${IMAGES} canonical ${SIZE}x${SIZE} q${QUALITY} 4:2:0 restart-1 files, ${totalBytes} scan bytes`,
);
console.log(
  `grammar mask+accept, first pass (cache cold): ${fmt(cold)} us/byte; ${cachedMasks} masks cached, ` +
    `${(((cold - median(warm)) * totalBytes) / 1e6).toFixed(0)} ms spent filling them`,
);
console.log(`grammar mask+accept, median of ${RUNS} warm passes: ${fmt(median(warm))} us/byte`);
console.log(`grammar uncached (all 256 candidates simulated): ${fmt(uncached)} us/byte`);
console.log(
  `grammar random walks (mask + uniform choice + accept), median: ${fmt(median(walks))} us/byte`,
);
console.log(`sharp (libjpeg-turbo) full decode: ${fmt(median(sh))} us/byte`);
console.log(`jpeg-js full decode: ${fmt(median(js))} us/byte`);
console.log(
  `ratios: warm mask / libjpeg-turbo decode = ${(median(warm) / median(sh)).toFixed(2)}, ` +
    `warm mask / jpeg-js decode = ${(median(warm) / median(js)).toFixed(2)}, ` +
    `uncached / warm = ${(uncached / median(warm)).toFixed(1)}`,
);
