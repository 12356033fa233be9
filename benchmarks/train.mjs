// Training throughput (issue 5 section 4): tokens/s of one optimizer step (forward, loss,
// backward, gradient clipping, AdamW) of our ONNX Runtime training graph against PyTorch on the
// CPU, same ~5M-parameter config, same initial weights, same batches, same batch size and
// sequence length, in the same run, at 1 and 2 threads; each side is compared at its best thread
// count (on a machine shared with other jobs, PyTorch's OpenMP loops, which wait for every
// thread at every op, can lose more to contention at 2 threads than they gain). Also checks that both compute the same
// thing (per-step losses of identical trajectories), and measures what keeping the optimizer
// state in preallocated ORT buffers buys over letting ORT allocate fresh outputs each step.
//
// PyTorch comes from Debian's python3-torch (not a project dependency). If /usr/bin/python3
// cannot import torch, this script installs it with apt-get, together with libopenblas0-pthread:
// Debian's torch calls whatever libblas.so.3 the alternatives system selects, and the reference
// BLAS selected without OpenBLAS is some 30x slower, which would make the peer a straw man.
//
// Usage: npx tsc -b && node benchmarks/train.mjs [--runs 5] [--steps 6] [--batch 8] [--seq 256]
//        [--threads 1,2] [--no-torch] [--no-install]
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import {
  GraphBuilder,
  TRAIN_IO,
  TrainingSession,
  buildTrainGraph,
  createRandomWeights,
  expectedWeightShapes,
  llamaConfig,
  llamaConfigToJson,
  parameterCount,
  serializeGraph,
} from '../packages/byte-lm/dist/index.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = arg('--runs', 5);
const STEPS = arg('--steps', 6);
const WARMUP = 2;
const B = arg('--batch', 8);
const S = arg('--seq', 256);
const THREAD_COUNTS = (args.includes('--threads') ? args[args.indexOf('--threads') + 1] : '1,2')
  .split(',')
  .map(Number);
const PYTHON = '/usr/bin/python3';
const here = path.dirname(fileURLToPath(import.meta.url));

// The ~5M-parameter reference config (the same as the inference benchmarks'); vocabulary 512
// = 260 byte/special tokens + 252 class tokens.
const config = llamaConfig({
  vocabSize: 512,
  hiddenSize: 256,
  intermediateSize: 704,
  numHiddenLayers: 6,
  numAttentionHeads: 8,
  numKeyValueHeads: 4,
  maxPositionEmbeddings: 2048,
});
const adamw = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };
const LR = 1e-3;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function batches(count) {
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  return Array.from({ length: count }, () => {
    const ids = new BigInt64Array(B * S);
    const targets = new BigInt64Array(B * S);
    const pos = new BigInt64Array(B * S);
    for (let i = 0; i < B * S; i++) {
      ids[i] = BigInt((next() >>> 8) % config.vocabSize);
      targets[i] = BigInt((next() >>> 8) % config.vocabSize);
      pos[i] = BigInt(i % S);
    }
    return { rows: B, seqLen: S, inputIds: ids, targets, positionIds: pos, scored: B * S };
  });
}

const weights = createRandomWeights(config, 1);
const data = batches(WARMUP + STEPS);

function initialState() {
  const w = new Map([...weights].map(([n, t]) => [n, Float32Array.from(t.data)]));
  const zeros = () => new Map([...weights].map(([n, t]) => [n, new Float32Array(t.data.length)]));
  return { weights: w, m: zeros(), v: zeros() };
}

/** Ours: TrainingSession (state in preallocated ping-pong buffers). */
async function runOurs(threads) {
  const session = await TrainingSession.create(config, initialState(), { adamw, threads });
  const losses = [];
  const seconds = [];
  for (let k = 0; k < WARMUP + STEPS; k++) {
    const t0 = performance.now();
    const r = await session.step([data[k]], LR, k + 1);
    seconds.push((performance.now() - t0) / 1000);
    losses.push(r.loss);
  }
  await session.dispose();
  return { losses, seconds: seconds.slice(WARMUP) };
}

/** The same step graph with ORT allocating fresh outputs that are fed back next step. */
async function runFreshOutputs(threads) {
  const graph = buildTrainGraph(config, { kind: 'step', adamw }).graph;
  const session = await ort.InferenceSession.create(serializeGraph(graph), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const st = initialState();
  let state = {};
  for (const [name, shape] of expectedWeightShapes(config)) {
    state[name] = new ort.Tensor('float32', st.weights.get(name), shape);
    state[TRAIN_IO.adamM(name)] = new ort.Tensor('float32', st.m.get(name), shape);
    state[TRAIN_IO.adamV(name)] = new ort.Tensor('float32', st.v.get(name), shape);
  }
  const seconds = [];
  for (let k = 0; k < WARMUP + STEPS; k++) {
    const b = data[k];
    const dims = [B, S];
    const t0 = performance.now();
    const out = await session.run({
      ...state,
      input_ids: new ort.Tensor('int64', b.inputIds, dims),
      position_ids: new ort.Tensor('int64', b.positionIds, dims),
      targets: new ort.Tensor('int64', b.targets, dims),
      loss_scale: new ort.Tensor('float32', Float32Array.of(1 / (B * S)), []),
      lr: new ort.Tensor('float32', Float32Array.of(LR), []),
      step: new ort.Tensor('float32', Float32Array.of(k + 1), []),
    });
    const next = {};
    for (const name of Object.keys(state)) next[name] = out[TRAIN_IO.updated(name)];
    state = next;
    seconds.push((performance.now() - t0) / 1000);
  }
  await session.release();
  return { seconds: seconds.slice(WARMUP) };
}

/** ORT's float32 GEMM speed on a linear layer's shape ([B*S, hidden] x [hidden, intermediate]). */
async function ortMatmulGflops(threads) {
  const [m, k, n] = [B * S, config.hiddenSize, config.intermediateSize];
  const g = new GraphBuilder('matmul');
  const a = g.input('a', 'float32', [m, k]);
  const w = g.input('w', 'float32', [k, n]);
  g.output(g.matmul(a, w), 'y');
  const s = await ort.InferenceSession.create(serializeGraph(g.build()), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const feeds = {
    a: new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]),
    w: new ort.Tensor('float32', new Float32Array(k * n).fill(0.25), [k, n]),
  };
  await s.run(feeds);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) await s.run(feeds);
  const secs = (performance.now() - t0) / 1000;
  await s.release();
  return (2 * m * k * n * 20) / secs / 1e9;
}

function torchAvailable() {
  return spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
}

function blasLibrary() {
  const r = spawnSync('update-alternatives', ['--query', 'libblas.so.3-x86_64-linux-gnu'], {
    encoding: 'utf8',
  });
  const m = /^Value: (.*)$/m.exec(r.stdout ?? '');
  return m ? m[1] : 'unknown';
}

function ensureTorch() {
  if (args.includes('--no-torch')) return 'skipped (--no-torch)';
  const needBlas = !blasLibrary().includes('openblas');
  if (torchAvailable() && !needBlas) return undefined;
  if (args.includes('--no-install')) return 'python3-torch or OpenBLAS missing (--no-install)';
  const cand = spawnSync('apt-cache', ['policy', 'python3-torch'], { encoding: 'utf8' });
  if (cand.status !== 0 || /Candidate: \(none\)/.test(cand.stdout)) {
    return 'apt has no python3-torch on this machine; PyTorch peer not run';
  }
  process.stderr.write('installing python3-torch and libopenblas0-pthread with apt-get...\n');
  const r = spawnSync(
    'apt-get',
    ['install', '-y', '--no-install-recommends', 'python3-torch', 'libopenblas0-pthread'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    },
  );
  if (r.status !== 0 || !torchAvailable()) return 'apt-get install python3-torch failed';
  return undefined;
}

const work = path.join(os.tmpdir(), `jpeglm-train-bench-${process.pid}`);
function writeTorchJob() {
  mkdirSync(work, { recursive: true });
  const names = [...expectedWeightShapes(config)];
  names.forEach(([n], i) => writeFileSync(path.join(work, `w_${i}.f32`), weights.get(n).data));
  data.forEach((b, k) => {
    const both = new BigInt64Array(2 * B * S);
    both.set(b.inputIds);
    both.set(b.targets, B * S);
    writeFileSync(path.join(work, `batch_${k}.i64`), both);
  });
  writeFileSync(
    path.join(work, 'job.json'),
    JSON.stringify({
      config: llamaConfigToJson(config),
      weights: names,
      adamw,
      lr: LR,
      batch: B,
      seq_len: S,
      steps: WARMUP + STEPS,
      batches: data.length,
    }),
  );
}

function runTorch(threads) {
  const r = spawnSync(PYTHON, [path.join(here, 'train_torch.py'), work, String(threads)], {
    encoding: 'utf8',
    env: {
      ...process.env,
      OMP_NUM_THREADS: String(threads),
      OPENBLAS_NUM_THREADS: String(threads),
    },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`train_torch.py failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  return {
    losses: out.losses,
    seconds: out.seconds.slice(WARMUP),
    version: out.torch,
    gflops: out.matmul_gflops,
  };
}

const torchProblem = ensureTorch();
if (!torchProblem) writeTorchJob();
const tokensPerStep = B * S;
// Step times (seconds) per contender and thread count, over every timed step of every run.
const times = { ours: {}, fresh: {}, torch: {} };
const gflops = { ort: {}, torch: {} };
const add = (table, t, xs) => (table[t] ??= []).push(...xs);
let oursLosses;
let torchLosses;
let torchVersion;
for (let r = 0; r < RUNS; r++) {
  for (const t of THREAD_COUNTS) {
    const o = await runOurs(t);
    oursLosses ??= o.losses;
    add(times.ours, t, o.seconds);
    add(times.fresh, t, (await runFreshOutputs(t)).seconds);
    add(gflops.ort, t, [await ortMatmulGflops(t)]);
    if (!torchProblem) {
      const p = runTorch(t);
      torchLosses ??= p.losses;
      torchVersion = p.version;
      add(times.torch, t, p.seconds);
      add(gflops.torch, t, [p.gflops]);
    }
    const last = (xs) => (tokensPerStep / median(xs.slice(-STEPS))).toFixed(0);
    process.stderr.write(
      `run ${r + 1}/${RUNS}, ${t} thread(s), median step: ours ${last(times.ours[t])} tok/s, ` +
        `fresh outputs ${last(times.fresh[t])}` +
        `${torchProblem ? '' : `, torch ${last(times.torch[t])}`}\n`,
    );
  }
}
rmSync(work, { recursive: true, force: true });

const cpu = spawnSync('lscpu', [], { encoding: 'utf8' }).stdout.match(/Model name:\s*(.*)/)?.[1];
console.log(
  `machine: ${cpu ?? 'unknown'}, ${os.availableParallelism()} CPUs; node ${process.version}; ${new Date().toISOString().slice(0, 10)}`,
);
console.log(
  `config: ${(parameterCount(config) / 1e6).toFixed(2)}M parameters (hidden ${config.hiddenSize}, ${config.numHiddenLayers} layers, ` +
    `${config.numAttentionHeads} heads / ${config.numKeyValueHeads} KV, intermediate ${config.intermediateSize}, vocab ${config.vocabSize}); ` +
    `batch ${B} x seq ${S} = ${tokensPerStep} tokens/step; ${STEPS} timed steps after ${WARMUP} warmup steps; ${RUNS} runs`,
);
// Other jobs share the machine and contention only ever adds time, so the fastest step is given
// next to the median step. Each side is compared at its best thread count.
const best = (xs) => Math.min(...xs);
const tps = (secs) => tokensPerStep / secs;
const contenders = [
  ['ours (ORT, preallocated state)', times.ours],
  ['ours, ORT-allocated outputs', times.fresh],
  ...(torchProblem ? [] : [[`PyTorch ${torchVersion}`, times.torch]]),
];
console.log('\n| contender | threads | tokens/s (median step) | tokens/s (best step) |');
console.log('|---|---:|---:|---:|');
for (const [name, table] of contenders) {
  for (const t of THREAD_COUNTS) {
    console.log(
      `| ${name} | ${t} | ${tps(median(table[t])).toFixed(0)} | ${tps(best(table[t])).toFixed(0)} |`,
    );
  }
}
const bestOf = (table, f) => Math.max(...THREAD_COUNTS.map((t) => tps(f(table[t]))));
console.log('');
console.log(
  `preallocated state / ORT-allocated outputs: ${(bestOf(times.ours, median) / bestOf(times.fresh, median)).toFixed(2)}x (median), ` +
    `${(bestOf(times.ours, best) / bestOf(times.fresh, best)).toFixed(2)}x (best)`,
);
if (torchProblem) {
  console.log(`PyTorch: ${torchProblem}`);
} else {
  console.log(`PyTorch: Debian python3-torch, BLAS ${blasLibrary()}`);
  console.log(
    `ratio ours / PyTorch, each at its best thread count: ` +
      `${(bestOf(times.ours, median) / bestOf(times.torch, median)).toFixed(2)}x (median step), ` +
      `${(bestOf(times.ours, best) / bestOf(times.torch, best)).toFixed(2)}x (best step); target >= 0.8x`,
  );
  const diffs = oursLosses.map((l, i) => Math.abs(l - torchLosses[i]));
  console.log(
    `same computation: per-step losses over ${diffs.length} steps agree within ${Math.max(...diffs).toExponential(2)} ` +
      `(ours ${oursLosses.map((l) => l.toFixed(4)).join(' ')})`,
  );
}
for (const t of THREAD_COUNTS) {
  console.log(
    `float32 GEMM [${B * S}x${config.hiddenSize}]x[${config.hiddenSize}x${config.intermediateSize}], ${t} thread(s): ` +
      `ORT ${median(gflops.ort[t]).toFixed(1)} GFLOP/s` +
      (torchProblem ? '' : `, torch ${median(gflops.torch[t]).toFixed(1)} GFLOP/s`),
  );
}
