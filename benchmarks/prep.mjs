// `jpeglm prep` throughput (issue 5 section 4): images per second through prepareDataset
// (list, read, sha256, decode + crop + resize with sharp, our canonical encoder, tokenize, chunk
// journal, shard assembly) at 1 and 2 worker threads, on the same input set in the same run.
//
// Peer, in the same run and on the same files: sharp doing the per-image work alone — read,
// decode, flatten, cover-resize to the profile size, libjpeg-turbo encode at the profile's
// quality and 4:2:0 — with 1 and 2 images in flight (libvips' own thread pool as configured).
// It writes nothing and tokenizes nothing, so it is a floor for the per-image cost.
// Runs are interleaved (ours 1, ours 2, peer 1, peer 2, repeat) so they share machine noise.
//
// Usage: npx tsc -b && node benchmarks/prep.mjs [--runs 5] [--images 400] [--emoji]
//   default input: deterministic synthetic PNGs, 160x120 (gradients, shapes, grain), profile
//   jpeglm-64-q50. With --emoji: the first --images files of datasets/emoji/build/manifest.jsonl
//   (64x64 PNGs; build them with the recipe in datasets/emoji), profile jpeglm-48-q50.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { prepareDataset } from '../packages/byte-lm/dist/index.js';
import { getProfile } from '../packages/codec-tokenizer/dist/index.js';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i < 0 ? fallback : Number(argv[i + 1]);
};
const RUNS = option('--runs', 5);
const IMAGES = option('--images', 400);
const EMOJI = argv.includes('--emoji');
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'jpeglm-bench-prep-'));

function prng(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

async function syntheticInputs() {
  const dir = path.join(tmp, 'in');
  const W = 160;
  const H = 120;
  for (let i = 0; i < IMAGES; i++) {
    const rnd = prng(i + 1);
    const data = Buffer.alloc(W * H * 3);
    const [cx, cy, r] = [rnd() * W, rnd() * H, 10 + rnd() * 40];
    const base = [rnd() * 255, rnd() * 255, rnd() * 255];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        for (let c = 0; c < 3; c++) {
          const v = inside ? 255 - base[c] : base[c] * (0.5 + (0.5 * x) / W) + (y * c) / 4;
          data[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, v + (rnd() - 0.5) * 24));
        }
      }
    }
    const cls = `class${i % 8}`;
    mkdirSync(path.join(dir, cls), { recursive: true });
    const png = await sharp(data, { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    writeFileSync(path.join(dir, cls, `${String(i).padStart(4, '0')}.png`), png);
  }
  return { source: { kind: 'folder', path: dir }, files: null, profile: 'jpeglm-64-q50' };
}

function emojiInputs() {
  const build = path.join(repo, 'datasets', 'emoji', 'build');
  const lines = readFileSync(path.join(build, 'manifest.jsonl'), 'utf8').trim().split('\n');
  // Every k-th line, so all classes and sets appear.
  const step = Math.max(1, Math.floor(lines.length / IMAGES));
  const pick = lines.filter((_, i) => i % step === 0).slice(0, IMAGES);
  const manifest = path.join(build, `.bench-prep-${process.pid}.jsonl`);
  writeFileSync(manifest, pick.join('\n') + '\n');
  process.on('exit', () => rmSync(manifest, { force: true }));
  return { source: { kind: 'manifest', path: manifest }, profile: 'jpeglm-48-q50' };
}

const input = EMOJI ? emojiInputs() : await syntheticInputs();
const profile = getProfile(input.profile);

// The file list the peer works on: the same files prep reads.
const files = [];
if (input.source.kind === 'folder') {
  const { listImageFolder } = await import('../packages/byte-lm/dist/index.js');
  for (const s of (await listImageFolder(input.source.path)).samples) files.push(s.file);
} else {
  const { readManifest } = await import('../packages/byte-lm/dist/index.js');
  for (const s of (await readManifest(input.source.path)).samples) files.push(s.file);
}

let runId = 0;
async function ours(workers) {
  const out = path.join(tmp, `out-${runId++}`);
  const t0 = performance.now();
  const card = await prepareDataset({ source: input.source, out, profile, workers });
  const secs = (performance.now() - t0) / 1000;
  rmSync(out, { recursive: true, force: true });
  if (card.totals.inputs !== files.length) throw new Error('prep saw other inputs');
  return { rate: files.length / secs, rejects: card.totals.rejects, tokens: card.totals.tokens };
}

async function peer(inFlight) {
  const t0 = performance.now();
  let next = 0;
  let bytes = 0;
  const lane = async () => {
    while (next < files.length) {
      const f = files[next++];
      const data = readFileSync(f);
      createHash('sha256').update(data).digest();
      const jpg = await sharp(data)
        .flatten({ background: '#ffffff' })
        .resize(profile.width, profile.height, { fit: 'cover', kernel: 'linear' })
        .jpeg({ quality: profile.quality, chromaSubsampling: '4:2:0' })
        .toBuffer();
      bytes += jpg.length;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { rate: files.length / ((performance.now() - t0) / 1000), bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { ours1: [], ours2: [], peer1: [], peer2: [] };
let info;
await ours(1); // warm the file cache and sharp
for (let r = 0; r < RUNS; r++) {
  const o1 = await ours(1);
  info = o1;
  results.ours1.push(o1.rate);
  results.ours2.push((await ours(2)).rate);
  results.peer1.push((await peer(1)).rate);
  results.peer2.push((await peer(2)).rate);
}
rmSync(tmp, { recursive: true, force: true });

const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
console.log(
  `input: ${EMOJI ? 'emoji manifest subset' : 'synthetic 160x120 PNGs'}, ${files.length} files, ` +
    `profile ${profile.name}, ${info.tokens} tokens, ${info.rejects} rejects; ` +
    `${os.availableParallelism()} cores, ${os.cpus()[0].model}, load ${os.loadavg()[0].toFixed(1)}; median of ${RUNS}`,
);
console.log('| | 1 worker | 2 workers | 2/1 |');
console.log('|---|---:|---:|---:|');
console.log(
  `| ours: jpeglm prep (images/s) | ${m.ours1.toFixed(0)} | ${m.ours2.toFixed(0)} | ${(m.ours2 / m.ours1).toFixed(2)} |`,
);
console.log(
  `| peer: sharp decode+resize+JPEG only (images/s) | ${m.peer1.toFixed(0)} | ${m.peer2.toFixed(0)} | ${(m.peer2 / m.peer1).toFixed(2)} |`,
);
console.log(
  `| ratio ours / peer | ${(m.ours1 / m.peer1).toFixed(2)} | ${(m.ours2 / m.peer2).toFixed(2)} | |`,
);
