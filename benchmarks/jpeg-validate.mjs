// JPEG validator (issue 3 sections 1 and 5; target >= 100 MB/s).
//
// 1. Speed: validateJpeg over the same files as the peers, in the same run: djpeg (full decode,
//    one process per file, as a shell pipeline would use it) and libjpeg-turbo in-process
//    (sharp, decode to raw RGB). MB/s of JPEG bytes by wall clock and by CPU time (the machine
//    is shared, so CPU time is the steadier figure; djpeg's is that of its processes).
// 2. Agreement: a corpus of corrupted cjpeg files (bit flips, byte substitutions, insertions,
//    deletions, truncations, garbage tails; with and without restart markers). For each kind:
//    how many djpeg flags (warning or failure), how many we flag, how many djpeg flags and we
//    do not (must be 0), and what the validator reports for the ones only it flags.
//
// Usage: npx tsc -b && node benchmarks/jpeg-validate.mjs [--runs 7] [--images 24] [--corpus 3000]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { validateJpeg } from '../packages/codec-tokenizer/dist/index.js';
import { jpegLmCorpus } from './jpeg-decode.mjs';
import { concatBytes, lavfiRgb, xorshift32 } from './lib/bench.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('--runs', 7);
const IMAGES = arg('--images', 24);
const CORPUS = arg('--corpus', 3000);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cjpegFrom(rgb, width, height, args) {
  const ppm = Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), rgb]);
  const r = spawnSync('cjpeg', args, { input: ppm, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`cjpeg: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** A few large photo-like files (1024x1024, quality 85, no restart markers). */
function largeCorpus() {
  return [
    'mandelbrot=size=1024x1024',
    'testsrc2=size=1024x1024',
    "nullsrc=size=1024x1024,geq=r='128+100*sin(X/80)*cos(Y/120)':g='128+100*sin((X+Y)/100)':b='128+80*cos(X/60)',noise=alls=20:all_seed=5",
  ].map((src) => {
    const rgb = lavfiRgb(src, 1024, 1024);
    return cjpegFrom(rgb, 1024, 1024, ['-quality', '85', '-sample', '2x2', '-dct', 'int']);
  });
}

/** CPU time of this process and of its waited-for children (djpeg), in ms. */
function cpuMs() {
  const own = process.cpuUsage();
  // /proc/self/stat fields 16 and 17: cutime and cstime of reaped children, in clock ticks.
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const children = (Number(fields[13]) + Number(fields[14])) * (1000 / 100);
  return { own: (own.user + own.system) / 1000, children };
}

async function speed(name, files) {
  const bytes = files.reduce((n, f) => n + f.length, 0);
  sharp.concurrency(1);
  // Let V8 reach its optimising tier before timing anything (a second and a half of validation).
  for (const t = performance.now(); performance.now() - t < 1500;)
    for (const f of files) validateJpeg(f);
  const times = { ours: [], djpeg: [], sharp: [] };
  const cpu = { ours: [], djpeg: [], sharp: [] };
  for (let run = 0; run <= RUNS; run++) {
    const reps = Math.max(1, Math.round(2e6 / bytes));
    let c = cpuMs();
    let t = performance.now();
    for (let k = 0; k < reps; k++) for (const f of files) validateJpeg(f);
    const ours = (performance.now() - t) / reps;
    const oursCpu = (cpuMs().own - c.own) / reps;
    c = cpuMs();
    t = performance.now();
    for (const f of files)
      spawnSync('djpeg', ['-dct', 'int', '-ppm', '-outfile', '/dev/null'], { input: f });
    const dj = performance.now() - t;
    const djCpu = cpuMs().children - c.children;
    c = cpuMs();
    t = performance.now();
    for (const f of files) await sharp(f).raw().toBuffer();
    const sh = performance.now() - t;
    const shCpu = cpuMs().own - c.own;
    if (run === 0) continue; // warm-up
    times.ours.push(ours);
    times.djpeg.push(dj);
    times.sharp.push(sh);
    cpu.ours.push(oursCpu);
    cpu.djpeg.push(djCpu);
    cpu.sharp.push(shCpu);
  }
  const mbs = (ms) => bytes / 1e6 / (ms / 1e3);
  const ours = median(times.ours);
  const oursCpu = median(cpu.ours);
  console.log(
    `\n${name}: ${files.length} files, ${(bytes / files.length).toFixed(0)} bytes on average; median of ${RUNS} runs`,
  );
  console.log('| | MB/s (wall) | MB/s (CPU) | ms/file (wall) | validator faster by (wall, CPU) |');
  console.log('|---|---:|---:|---:|---:|');
  const row = (label, key) => {
    const w = median(times[key]);
    const c = median(cpu[key]);
    console.log(
      `| ${label} | ${mbs(w).toFixed(1)} | ${mbs(c).toFixed(1)} | ${(w / files.length).toFixed(3)} | ${(w / ours).toFixed(1)}x, ${(c / oursCpu).toFixed(1)}x |`,
    );
  };
  row('ours: validateJpeg', 'ours');
  row('djpeg -dct int, one process per file (CPU: the djpeg processes)', 'djpeg');
  row('libjpeg-turbo in-process (sharp, decode to raw)', 'sharp');
}

const KINDS = [
  'bit flip',
  'byte substitution',
  'insertion (1-4 bytes)',
  'deletion (1-4 bytes)',
  'truncation',
  'garbage tail (1-64 bytes)',
];

function mutate(b, kind, next) {
  const at = next() % b.length;
  const junk = (n) => Uint8Array.from({ length: n }, () => next() & 255);
  switch (kind) {
    case 0: {
      const out = b.slice();
      out[at] ^= 1 << (next() % 8);
      return out;
    }
    case 1: {
      const out = b.slice();
      out[at] = (out[at] + 1 + (next() % 255)) & 255;
      return out;
    }
    case 2:
      return concatBytes(b.subarray(0, at), junk(1 + (next() % 4)), b.subarray(at));
    case 3:
      return concatBytes(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + (next() % 4))));
    case 4:
      return b.subarray(0, at);
    default:
      return concatBytes(b, junk(1 + (next() % 64)));
  }
}

function djpegComplains(jpeg) {
  const r = spawnSync('djpeg', ['-ppm', '-outfile', '/dev/null'], { input: jpeg });
  return r.status !== 0 || r.stderr.length > 0;
}

function agreement(bases) {
  const next = xorshift32(20261125);
  const perKind = KINDS.map(() => ({ n: 0, djpeg: 0, ours: 0, missed: 0, onlyOurs: 0 }));
  const onlyOursWhy = new Map();
  for (let i = 0; i < CORPUS; i++) {
    const kind = i % KINDS.length;
    const bytes = mutate(bases[Math.floor(i / KINDS.length) % bases.length], kind, next);
    const theirs = djpegComplains(bytes);
    const report = validateJpeg(bytes);
    const ours = report.verdict !== 'valid';
    const k = perKind[kind];
    k.n++;
    if (theirs) k.djpeg++;
    if (ours) k.ours++;
    if (theirs && !ours) k.missed++;
    if (ours && !theirs) {
      k.onlyOurs++;
      const why = [...new Set(report.problems.map((p) => p.kind))].join(' + ');
      onlyOursWhy.set(why, (onlyOursWhy.get(why) ?? 0) + 1);
    }
  }
  console.log(`\nCorruption corpus: ${CORPUS} files from ${bases.length} cjpeg files`);
  console.log(
    '| mutation | files | djpeg flags | validator flags | djpeg flags, validator not | validator only |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  const total = { n: 0, djpeg: 0, ours: 0, missed: 0, onlyOurs: 0 };
  KINDS.forEach((name, i) => {
    const k = perKind[i];
    for (const key of Object.keys(total)) total[key] += k[key];
    console.log(`| ${name} | ${k.n} | ${k.djpeg} | ${k.ours} | ${k.missed} | ${k.onlyOurs} |`);
  });
  console.log(
    `| all | ${total.n} | ${total.djpeg} | ${total.ours} | ${total.missed} | ${total.onlyOurs} |`,
  );
  console.log('\nWhat the validator reports on the files only it flags:');
  console.log('| problems | files |');
  console.log('|---|---:|');
  for (const [why, n] of [...onlyOursWhy].sort((a, b) => b[1] - a[1]))
    console.log(`| ${why} | ${n} |`);
}

async function main() {
  const canonical = jpegLmCorpus(IMAGES);
  await speed('JPEG-LM form (256x256, quality 25, 4:2:0, RST after every MCU)', canonical);
  await speed('1024x1024, quality 85, 4:2:0, no restart markers', largeCorpus());
  // Bases for corruption: the JPEG-LM form, the same without restart markers, and with a
  // restart marker every MCU row, at two qualities.
  const bases = [];
  for (const f of canonical.slice(0, 6)) {
    const r = spawnSync('djpeg', ['-ppm'], { input: f, maxBuffer: 1 << 26 });
    const m = /^P6\s+\d+\s+\d+\s+255\s/.exec(r.stdout.subarray(0, 20).toString('latin1'));
    const rgb = r.stdout.subarray(m[0].length);
    bases.push(f);
    bases.push(cjpegFrom(rgb, 256, 256, ['-quality', '75', '-sample', '2x2', '-dct', 'int']));
    bases.push(
      cjpegFrom(rgb, 256, 256, [
        '-quality',
        '50',
        '-sample',
        '1x1',
        '-restart',
        '1',
        '-dct',
        'int',
      ]),
    );
  }
  agreement(bases);
}

await main();
