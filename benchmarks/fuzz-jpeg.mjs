// Robustness of the JPEG validator, repairer and grammar (issue 3 section 6): hundreds of
// thousands of mutated inputs. Checks, for every input:
//   - validateJpeg / repairJpeg / the grammar throw nothing but CodecError;
//   - a repaired file validates as 'valid' (and, sampled, decodes in djpeg with no warning);
//   - the grammar (structure of the unmutated file) completes the mutated scan iff the validator
//     calls it valid and it is canonical (equal to re-encoding its own coefficients);
//   - no input takes more than --slow-ms;
// then times all three on inputs of growing size (valid streams, garbage, marker storms) to show
// time linear in the input size.
//
// Usage: npx tsc -b && node benchmarks/fuzz-jpeg.mjs [--count 300000] [--seed 1]
//        [--djpeg-every 500] [--slow-ms 250] [--out /tmp/jpeglm-fuzz]
// Exit status 1 if any check failed; failing inputs are written to --out.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CodecError,
  encodeScanData,
  JpegGrammar,
  repairJpeg,
  validateJpeg,
} from '../packages/codec-tokenizer/dist/index.js';
import { concatBytes, numberOption, option, uniform } from './lib/bench.mjs';

const COUNT = numberOption('--count', 300000);
const SEED = numberOption('--seed', 1);
const DJPEG_EVERY = numberOption('--djpeg-every', 500);
const SLOW_MS = numberOption('--slow-ms', 250);
const OUT = option('--out', '/tmp/jpeglm-fuzz');

const rnd = uniform(SEED);
const int = (n) => Math.floor(rnd() * n);

function ppm(w, h, kind, seed) {
  const r = uniform(seed);
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let v;
        if (kind === 'noise') v = r() * 256;
        else if (kind === 'blocks') v = ((x >> 3) + (y >> 3) + c) % 2 ? 250 : 5;
        else v = 128 + 100 * Math.sin(x * 0.11 * (c + 1) + y * 0.07) + (r() - 0.5) * 30;
        px[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.floor(v)));
      }
    }
  }
  return Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), px]);
}

function cjpeg(input, q, sampling, restart) {
  const args = ['-quality', String(q), '-dct', 'int', '-baseline'];
  if (sampling === 'gray') args.push('-grayscale');
  else args.push('-sample', sampling);
  if (restart > 0) args.push('-restart', `${restart}B`);
  const r = spawnSync('cjpeg', args, { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return new Uint8Array(r.stdout);
}

// ---- the corpus of unmutated files ----------------------------------------------------------
const bases = [];
const settings = [
  [16, 16, 'noise', 25, '2x2', 1],
  [32, 32, 'smooth', 25, '2x2', 1],
  [48, 40, 'noise', 75, '2x2', 0],
  [33, 17, 'blocks', 50, '2x2', 3],
  [40, 24, 'smooth', 95, '1x1', 2],
  [24, 40, 'noise', 90, 'gray', 0],
  [64, 16, 'blocks', 10, 'gray', 8],
  [64, 64, 'smooth', 50, '2x2', 4],
  [256, 256, 'smooth', 25, '2x2', 1], // JPEG-LM's canonical form
];
for (const [w, h, kind, q, s, r] of settings) {
  const jpeg = cjpeg(ppm(w, h, kind, w * h), q, s, r);
  const report = validateJpeg(jpeg);
  if (report.verdict !== 'valid') throw new Error(`base ${w}x${h} does not validate`);
  bases.push({ jpeg, structure: report.structure, weight: w * h > 10000 ? 1 : 8 });
}
const weighted = bases.flatMap((b) => Array(b.weight).fill(b));

// ---- mutations ----------------------------------------------------------------------------
function mutateOnce(src, from) {
  const n = src.length;
  const pos = () => from + int(Math.max(1, n - from));
  const k = 1 + int(4);
  switch (int(10)) {
    case 0: {
      const o = src.slice();
      for (let i = 0; i < k; i++) o[Math.min(n - 1, pos())] ^= 1 << int(8);
      return o;
    }
    case 1: {
      const o = src.slice();
      for (let i = 0; i < k; i++) o[Math.min(n - 1, pos())] = int(256);
      return o;
    }
    case 2: {
      const at = pos();
      return concatBytes(
        src.subarray(0, at),
        Uint8Array.from({ length: 1 + int(16) }, () => int(256)),
        src.subarray(at),
      );
    }
    case 3: {
      const at = pos();
      return concatBytes(src.subarray(0, at), src.subarray(Math.min(n, at + 1 + int(16))));
    }
    case 4:
      return src.slice(0, pos());
    case 5:
      return concatBytes(
        rnd() < 0.5 ? src : src.subarray(0, n - 2),
        Uint8Array.from({ length: 1 + int(100) }, () => int(256)),
      );
    case 6: {
      const at = pos();
      const code =
        rnd() < 0.7
          ? 0xd0 + int(8)
          : [0xd9, 0xd8, 0xc4, 0xdb, 0xfe, 0xe0, 0xdd, 0x01, 0xff][int(9)];
      return concatBytes(src.subarray(0, at), Uint8Array.of(0xff, code), src.subarray(at));
    }
    case 7: {
      // Duplicate or drop a whole chunk (e.g. a restart interval).
      const a = pos();
      const b = Math.min(n, a + 1 + int(64));
      return rnd() < 0.5
        ? concatBytes(src.subarray(0, b), src.subarray(a))
        : concatBytes(src.subarray(0, a), src.subarray(b));
    }
    case 8: {
      // Splice: this file's head, another file's tail.
      const other = bases[int(bases.length)].jpeg;
      return concatBytes(src.subarray(0, pos()), other.subarray(int(other.length)));
    }
    default: {
      // Header fields: a length, a dimension, a table entry.
      const o = src.slice();
      const at = 2 + int(Math.max(1, Math.min(n, from) - 2));
      o[at] = rnd() < 0.5 ? int(256) : o[at] ^ (1 << int(8));
      return o;
    }
  }
}

// ---- checks -------------------------------------------------------------------------------
mkdirSync(OUT, { recursive: true });
const failures = [];
function fail(what, input) {
  const file = join(OUT, `fail-${failures.length}.jpg`);
  writeFileSync(file, input);
  failures.push(`${what} (input: ${file})`);
  if (failures.length <= 20) console.error(`FAIL: ${what} (input: ${file})`);
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validAndCanonical(report, input) {
  if (report.verdict !== 'valid') return false;
  const s = report.structure;
  const scan = encodeScanData(report.coefficients, s.scan, s.tables, s.restartInterval);
  return sameBytes(
    concatBytes(input.subarray(0, s.headerEnd), scan, Uint8Array.of(0xff, 0xd9)),
    input,
  );
}

/** Milliseconds for validate + repair + grammar on one input, without the checks. */
function retime(input, structure) {
  const t = performance.now();
  validateJpeg(input);
  try {
    repairJpeg(input);
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
  }
  const g = JpegGrammar.forStructure(structure);
  const scan = input.subarray(Math.min(input.length, structure.headerEnd));
  for (let j = 0; j < scan.length && g.allowedBytes()[scan[j]] === 1; j++) g.accept(scan[j]);
  return performance.now() - t;
}

const stats = {
  inputs: 0,
  bytes: 0,
  valid: 0,
  repairable: 0,
  rejected: 0,
  tooLarge: 0,
  repaired: 0,
  uncodableFill: 0,
  djpeg: 0,
  grammarComplete: 0,
};
let maxMs = 0;
let maxMsInput = 0;
const t0 = performance.now();
for (let i = 0; i < COUNT; i++) {
  const base = weighted[int(weighted.length)];
  const headerEnd = base.structure.headerEnd;
  const from = rnd() < 0.15 ? 0 : headerEnd;
  let input = mutateOnce(base.jpeg, from);
  for (let extra = int(3); extra > 0; extra--) input = mutateOnce(input, from);
  stats.inputs++;
  stats.bytes += input.length;
  const ts = performance.now();
  let report;
  try {
    report = validateJpeg(input);
    stats[report.verdict]++;
  } catch (e) {
    if (!(e instanceof CodecError)) fail(`validateJpeg threw ${e}`, input);
    else if (e.code === 'too-large') stats.tooLarge++;
    else fail(`validateJpeg threw CodecError ${e.code}: ${e.message}`, input);
    continue;
  }
  try {
    const r = repairJpeg(input);
    if (r.changed) {
      stats.repaired++;
      const again = validateJpeg(r.bytes);
      if (again.verdict !== 'valid')
        fail(`repaired file is ${again.verdict}: ${again.problems[0]?.message}`, input);
      if (stats.repaired % DJPEG_EVERY === 0) {
        const d = spawnSync('djpeg', ['-dct', 'int'], { input: r.bytes, maxBuffer: 1 << 28 });
        stats.djpeg++;
        if (d.status !== 0 || d.stderr.length > 0)
          fail(`djpeg on repaired file: ${d.status} ${d.stderr}`, input);
      }
    } else if (report.verdict !== 'valid') fail('repairJpeg left an invalid file unchanged', input);
  } catch (e) {
    if (!(e instanceof CodecError)) fail(`repairJpeg threw ${e}`, input);
    else if (report.verdict !== 'rejected' && !/cannot code the replacement/.test(e.message)) {
      fail(`repairJpeg refused a ${report.verdict} file: ${e.message}`, input);
    } else if (report.verdict !== 'rejected') stats.uncodableFill++;
  }
  try {
    const g = JpegGrammar.forStructure(base.structure);
    const scan = input.subarray(Math.min(input.length, headerEnd));
    const all = g.acceptsAll(scan);
    let j = 0;
    for (; j < scan.length; j++) {
      if (g.allowedBytes()[scan[j]] !== 1) break;
      g.accept(scan[j]);
    }
    if (all !== (j === scan.length)) fail('acceptsAll disagrees with the mask', input);
    const complete = j === scan.length && g.complete;
    if (complete) stats.grammarComplete++;
    const sameHeader = sameBytes(input.subarray(0, headerEnd), base.jpeg.subarray(0, headerEnd));
    if (sameHeader && complete !== validAndCanonical(report, input)) {
      fail(
        `grammar complete=${complete} but validator ${report.verdict} (${report.problems[0]?.message})`,
        input,
      );
    }
  } catch (e) {
    fail(`grammar threw ${e}`, input);
  }
  let ms = performance.now() - ts;
  // Two shared cores make single timings noisy (GC, other processes): re-time a slow input and
  // call it a hang only if it is slow every time.
  if (ms > SLOW_MS) ms = Math.min(ms, retime(input, base.structure), retime(input, base.structure));
  if (ms > maxMs) {
    maxMs = ms;
    maxMsInput = input.length;
  }
  if (ms > SLOW_MS) fail(`slow input: ${ms.toFixed(1)} ms for ${input.length} bytes`, input);
  if ((i + 1) % 50000 === 0) {
    console.error(
      `${i + 1}/${COUNT} inputs, ${((performance.now() - t0) / 1000).toFixed(0)} s, ${failures.length} failures`,
    );
  }
}
const seconds = (performance.now() - t0) / 1000;

// ---- linear time --------------------------------------------------------------------------
function timeAll(input, structure) {
  const reps = input.length < 200000 ? 7 : 3;
  const t = { validate: [], repair: [], grammar: [] };
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now();
    validateJpeg(input);
    t.validate.push(performance.now() - t0);
    t0 = performance.now();
    try {
      repairJpeg(input);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
    }
    t.repair.push(performance.now() - t0);
    t0 = performance.now();
    const g = JpegGrammar.forStructure(structure);
    const scan = input.subarray(structure.headerEnd);
    for (let j = 0; j < scan.length && g.allowedBytes()[scan[j]] === 1; j++) g.accept(scan[j]);
    t.grammar.push(performance.now() - t0);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { validate: med(t.validate), repair: med(t.repair), grammar: med(t.grammar) };
}
const scaling = [];
for (const side of [128, 256, 512, 1024]) {
  const jpeg = cjpeg(ppm(side, side, 'noise', side), 90, '2x2', 1);
  const { structure } = validateJpeg(jpeg);
  const header = jpeg.subarray(0, structure.headerEnd);
  const body = jpeg.subarray(structure.headerEnd);
  const n = body.length;
  const garbage = Uint8Array.from({ length: n }, () => int(256));
  const storm = Uint8Array.from({ length: n }, (_, k) => (k % 2 === 0 ? 0xff : 0xd0 + int(8)));
  const stuffed = Uint8Array.from({ length: n }, (_, k) => (k % 2 === 0 ? 0xff : 0x00));
  for (const [name, input] of [
    ['valid', jpeg],
    ['truncated-half', jpeg.subarray(0, structure.headerEnd + (n >> 1))],
    ['garbage-scan', concatBytes(header, garbage)],
    ['rst-storm', concatBytes(header, storm)],
    ['ff00-run', concatBytes(header, stuffed)],
  ]) {
    scaling.push({ side, name, bytes: input.length, ...timeAll(input, structure) });
  }
}

console.log(
  `fuzz: ${stats.inputs} inputs (${(stats.bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(1)} s, seed ${SEED}`,
);
console.log(
  `verdicts: ${stats.valid} valid, ${stats.repairable} repairable, ${stats.rejected} rejected, ` +
    `${stats.tooLarge} refused as too large; ${stats.repaired} repaired (${stats.djpeg} checked with djpeg), ` +
    `${stats.uncodableFill} refused (tables cannot code a fill block); ` +
    `grammar completed ${stats.grammarComplete}`,
);
console.log(`slowest input: ${maxMs.toFixed(2)} ms (${maxMsInput} bytes)`);
console.log(
  'time vs size, ns per input byte (median of 3-7 runs; validate / repair / grammar mask+accept):',
);
for (const s of scaling) {
  const ns = (ms) => ((ms * 1e6) / s.bytes).toFixed(1).padStart(7);
  console.log(
    `  ${String(s.side).padStart(4)}px ${s.name.padEnd(15)} ${String(s.bytes).padStart(9)} bytes ${ns(s.validate)} ${ns(s.repair)} ${ns(s.grammar)}`,
  );
}
console.log(
  failures.length === 0 ? 'no failures' : `${failures.length} FAILURES (inputs in ${OUT})`,
);
process.exit(failures.length === 0 ? 0 : 1);
