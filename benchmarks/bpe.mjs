// Byte-level BPE over canonical JPEG scans (issue 2 sections 5 and 6): sequence-length reduction
// on held-out images, training time, and encode/decode speed in MB/s of scan bytes, against a
// real peer in the same run: Hugging Face's BPE in transformers.js (@huggingface/transformers,
// pure JS) loaded from the tokenizer.json that bpeToHuggingFaceJson writes for the same merges,
// run on JPEG-LM's Braille text (byte b = U+2800+b). Its segmentation is checked to be identical
// to ours before it is timed. Medians over several runs, runs of the two interleaved.
//
// Corpus (there are no natural photos on this machine; this is the most photo-like material that
// can be rebuilt bit for bit): 256x256 frames from Debian ffmpeg 5.1 lavfi sources, five
// families x 6 seeds x 10 frames = 300 images, each canonicalised with jpeglm-256-q25 by our
// encoder. Families: fractal zooms with grain (mandelbrot), smooth multi-colour gradients with a
// blurred cellular texture (gradients + cellauto, softlight), "vegetation" (life with mold,
// blurred, grain), gradient-over-fractal blends, and "skies" (gradients with fine grain). The
// filter graph of every image is in FAMILIES below. Seeds 0-3 train, seeds 4-5 are held out, so
// no test image shares an animation with a training image.
//
// Usage: npx tsc -b && node benchmarks/bpe.mjs [--runs 5] [--merges 64,256,1024,4096]
// The corpus is cached in benchmarks/.cache/bpe-corpus/ (delete it to rebuild).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import {
  BytePairEncoding,
  bpeToHuggingFaceJson,
  bytesToBraille,
  canonicalHeader,
  canonicalizeRgb,
  getProfile,
} from '../packages/codec-tokenizer/dist/index.js';
import { median, numberOption, option, timeSync } from './lib/bench.mjs';

const RUNS = numberOption('--runs', 5);
const MERGES = option('--merges', '64,256,1024,4096').split(',').map(Number);
const SPEED_MERGES = 1024;

const PROFILE = getProfile('jpeglm-256-q25');
const SEEDS = 6;
const FRAMES = 10;
const HELD_OUT_FROM_SEED = 4;
const CACHE = path.join(path.dirname(fileURLToPath(import.meta.url)), '.cache', 'bpe-corpus');

// Each family maps a seed to one lavfi filter graph; frames are every 5th of its animation.
const FAMILIES = {
  fractal: (s) =>
    `mandelbrot=s=256x256:start_x=${[-0.7436, -1.2537, -0.1011, 0.2869, -1.7686, -0.7453][s]}` +
    `:start_y=${[0.1318, 0.0347, 0.9563, 0.0135, 0.0017, 0.1127][s]}:start_scale=0.08` +
    `:end_scale=0.0008:end_pts=60,format=gbrp,gblur=sigma=0.6,noise=alls=8:allf=t:all_seed=${s + 1}`,
  texture: (s) =>
    `gradients=s=256x256:seed=${s + 7}:nb_colors=${2 + (s % 4)}:speed=0.02,format=gbrp[g];` +
    `cellauto=s=256x256:rule=${[30, 45, 73, 90, 105, 150][s]}:seed=${s + 3},format=gbrp,gblur=sigma=3[c];` +
    `[g][c]blend=all_mode=softlight,noise=alls=10:allf=t:all_seed=${s + 2},gblur=sigma=0.5`,
  vegetation: (s) =>
    `life=s=256x256:mold=${10 + 5 * s}:ratio=0.${3 + (s % 4)}:seed=${s + 5}` +
    `:life_color=#${['c08040', 'a0a050', '80a040', 'd0b070', '907050', 'b0c060'][s]}` +
    `:death_color=#203010:mold_color=#${['608030', '507040', '406020', '708040', '305020', '80a050'][s]}` +
    `,select='gte(n\\,40)',format=gbrp,gblur=sigma=1.5,noise=alls=12:allf=t:all_seed=${s + 4}`,
  blend: (s) =>
    `gradients=s=256x256:seed=${s + 11}:nb_colors=3,format=gbrp[g];` +
    `mandelbrot=s=256x256:start_x=${[-1.25, -0.75, -0.16, 0.3, -1.4, -0.56][s]}` +
    `:start_y=${[0.02, 0.1, 1.04, 0.03, 0.0, 0.64][s]}:start_scale=0.3,format=gbrp,hue=s=0.3[m];` +
    `[g][m]blend=all_mode=overlay:all_opacity=0.6,noise=alls=6:allf=t:all_seed=${s + 9}`,
  sky: (s) =>
    `gradients=s=256x256:seed=${s + 23}:nb_colors=${2 + (s % 2)}:speed=0.05,format=gbrp,` +
    `noise=alls=4:allf=t:all_seed=${s + 13},gblur=sigma=0.8`,
};

function render(graph) {
  const r = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-filter_complex',
      `${graph},select='not(mod(n\\,5))'`,
      '-frames:v',
      String(FRAMES),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { maxBuffer: 1 << 28 },
  );
  const frame = 256 * 256 * 3;
  if (r.status !== 0 || r.stdout.length !== frame * FRAMES) {
    throw new Error(`ffmpeg ${graph}: ${r.stderr}`);
  }
  return Array.from({ length: FRAMES }, (_, i) => ({
    width: 256,
    height: 256,
    data: new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + i * frame, frame),
  }));
}

function buildCorpus() {
  mkdirSync(CACHE, { recursive: true });
  // The cache is valid only for exactly these graphs, profile and frame counts.
  const recipe = JSON.stringify({
    profile: PROFILE,
    frames: FRAMES,
    graphs: Object.entries(FAMILIES).map(([f, g]) => [
      f,
      Array.from({ length: SEEDS }, (_, s) => g(s)),
    ]),
  });
  const manifest = path.join(CACHE, 'recipe.json');
  if (!existsSync(manifest) || readFileSync(manifest, 'utf8') !== recipe) {
    for (const f of readdirSync(CACHE)) rmSync(path.join(CACHE, f));
    for (const [family, graph] of Object.entries(FAMILIES)) {
      for (let s = 0; s < SEEDS; s++) {
        render(graph(s)).forEach((img, f) => {
          writeFileSync(
            path.join(CACHE, `${family}-s${s}-f${f}.jpg`),
            canonicalizeRgb(img, PROFILE),
          );
        });
      }
    }
    writeFileSync(manifest, recipe);
  }
  const header = canonicalHeader(PROFILE).length;
  const train = [];
  const test = [];
  for (const f of readdirSync(CACHE)
    .filter((x) => x.endsWith('.jpg'))
    .sort()) {
    const seed = Number(/-s(\d+)-/.exec(f)[1]);
    const body = new Uint8Array(readFileSync(path.join(CACHE, f))).subarray(header);
    (seed < HELD_OUT_FROM_SEED ? train : test).push(body);
  }
  return { train, test };
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const mb = (bytes) => bytes / 1e6;

const { train, test } = buildCorpus();
const trainBytes = sum(train.map((b) => b.length));
const testBytes = sum(test.map((b) => b.length));
console.log(`# BPE on canonical JPEG scans (${PROFILE.name})`);
console.log(
  `machine: ${os.cpus()[0].model}, ${os.cpus().length} cores; node ${process.version}; ${new Date().toISOString().slice(0, 10)}`,
);
console.log(
  `corpus: ${train.length} training images (${(trainBytes / train.length).toFixed(0)} bytes/image), ` +
    `${test.length} held-out (${(testBytes / test.length).toFixed(0)} bytes/image); ` +
    'sequence = scan bytes + EOI (header stripped)\n',
);

console.log(
  '| merges | vocab | train time (s) | train tokens/image | held-out tokens/image | held-out reduction |',
);
console.log('|---:|---:|---:|---:|---:|---:|');
const models = new Map();
for (const m of MERGES) {
  const t0 = performance.now();
  const bpe = BytePairEncoding.train(train, { merges: m });
  const seconds = (performance.now() - t0) / 1000;
  models.set(m, bpe);
  const trainTokens = sum(train.map((b) => bpe.encode(b).length));
  const testTokens = sum(test.map((b) => bpe.encode(b).length));
  console.log(
    `| ${bpe.merges.length} | ${256 + bpe.merges.length} | ${seconds.toFixed(2)} | ` +
      `${(trainTokens / train.length).toFixed(0)} | ${(testTokens / test.length).toFixed(0)} | ` +
      `${(100 * (1 - testTokens / testBytes)).toFixed(1)}% |`,
  );
}

// Speed, against transformers.js on the same merges.
const bpe = models.get(SPEED_MERGES) ?? BytePairEncoding.train(train, { merges: SPEED_MERGES });
const hf = new PreTrainedTokenizer(bpeToHuggingFaceJson(bpe), {});
const texts = test.map(bytesToBraille);
for (let i = 0; i < test.length; i++) {
  const ours = Array.from(bpe.encode(test[i]), (id) => bytesToBraille(bpe.tokenBytes(id)));
  const theirs = hf.tokenize(texts[i]);
  if (ours.length !== theirs.length || ours.some((t, k) => t !== theirs[k])) {
    throw new Error(`segmentation differs from transformers.js on held-out image ${i}`);
  }
}
const encoded = test.map((b) => bpe.encode(b));
const times = { ours: [], hf: [], decode: [] };
for (let r = 0; r < RUNS; r++) {
  times.ours.push(timeSync(() => test.forEach((b) => bpe.encode(b))));
  times.hf.push(timeSync(() => texts.forEach((s) => hf.encode(s, { add_special_tokens: false }))));
  times.decode.push(timeSync(() => encoded.forEach((ids) => bpe.decode(ids))));
}
const rate = (ms) => mb(testBytes) / (ms / 1000);
const ours = rate(median(times.ours));
const theirs = rate(median(times.hf));
console.log(
  `\nspeed on the ${test.length} held-out scans (${mb(testBytes).toFixed(2)} MB), ${bpe.merges.length} merges, median of ${RUNS} runs:`,
);
console.log('| | MB/s | ms/image |');
console.log('|---|---:|---:|');
console.log(
  `| ours: encode | ${ours.toFixed(1)} | ${(median(times.ours) / test.length).toFixed(3)} |`,
);
console.log(
  `| transformers.js BPE: encode (same segmentation) | ${theirs.toFixed(1)} | ${(median(times.hf) / test.length).toFixed(3)} |`,
);
console.log(
  `| ours: decode | ${rate(median(times.decode)).toFixed(1)} | ${(median(times.decode) / test.length).toFixed(3)} |`,
);
console.log(`\nencode speed ratio ours / transformers.js: ${(ours / theirs).toFixed(2)}x`);
