#!/usr/bin/env node
// Byte-LM inference speed: tokens/s of greedy generation at batch 1 and 16 on a ~5M-parameter
// Llama config, in one run, for
//   - ours:      OnnxCausalLM (caller-owned KV buffer, fused ops), float32 and int8 weights
//   - ours/file: OnnxCausalLM.fromOnnxFile on the exported Optimum-style ONNX file
//   - tjs:       transformers.js (@huggingface/transformers) generate() on that same file
//   - ts-ref:    the plain TypeScript float64 reference forward pass
// plus this machine's ORT MatMul GFLOP/s (roofline) on the model's own matmul shapes.
//
// Usage: npx tsc -b && node benchmarks/lm-inference.mjs [--rounds 5] [--threads 1] [--quick]
// Prints Markdown tables (tokens per CPU second and per wall-clock second) and writes
// benchmarks/.cache/lm-inference.json with every sample.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { URL, fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import {
  GraphBuilder,
  OnnxCausalLM,
  buildLlamaOnnx,
  ReferenceCausalLM,
  createRandomModel,
  parameterCount,
  saveModelDir,
  serializeGraph,
} from '../packages/byte-lm/dist/index.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const quick = args.includes('--quick');
const ROUNDS = opt('rounds', quick ? 1 : 5);
// One ORT thread by default: then all work runs on this thread and CPU time measures it even
// when other processes share the machine's cores.
const THREADS = opt('threads', 1);
const PROMPT = 16;
const NEW = { 1: quick ? 32 : 128, 16: quick ? 8 : 64 };
const REF_NEW = { 1: quick ? 2 : 8, 16: 1 };
const LONG_PROMPT = quick ? 256 : 1024;
const LONG_NEW = quick ? 8 : 64;

const OURS = 'ours (buffer KV, fused, fp32)';
const TJS = 'transformers.js on the exported file';
const REF = 'TypeScript reference (float64)';

export const CONFIG = {
  vocabSize: 300,
  hiddenSize: 256,
  intermediateSize: 688,
  numHiddenLayers: 6,
  numAttentionHeads: 8,
  numKeyValueHeads: 4,
  maxPositionEmbeddings: 2048,
};

/** Wall-clock and CPU (user + system, this process) seconds of `fn`. With one ORT thread the
 * whole computation runs on this thread, so CPU time is what the work costs even when other
 * processes share the cores; wall time is what a user waits. */
async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const l = execFileSync('lscpu', { encoding: 'utf8' });
    cpu = /Model name:\s*(.+)/.exec(l)?.[1]?.trim() ?? cpu;
  } catch {
    /* lscpu missing: keep os.cpus() */
  }
  return `${cpu}, ${os.availableParallelism()} CPUs, Node ${process.version}, onnxruntime-node ${ort.env.versions?.node ?? '1.30'}`;
}

// ------------------------------------------------------------------------------------------
// Roofline: ORT MatMul GFLOP/s. Each timed graph holds 16 MatMul nodes on the same operands,
// summed, so the per-run() cost of the binding is amortised; the per-node cost stays (it is real).

/** CPU seconds of one MatMul of shape [m, k] x [k, n] (median of 5 batches of runs). */
async function matmulSeconds(m, k, n) {
  const g = new GraphBuilder('mm');
  const x = g.input('x', 'float32', [m, k]);
  // Distinct weights per node: identical nodes would be merged by ORT's common-subexpression pass.
  const ys = Array.from({ length: 16 }, (_, j) => {
    const w = Float32Array.from(
      { length: k * n },
      (_, i) => (((i + j) * 7919) % 1000) / 1000 - 0.5,
    );
    return g.matmul(x, g.initializer(`w${j}`, 'float32', [k, n], w));
  });
  g.output(g.op('Sum', ys, {}, [{ dtype: 'float32', shape: [m, n], name: 'y' }])[0]);
  const s = await ort.InferenceSession.create(serializeGraph(g.build()), {
    intraOpNumThreads: THREADS,
  });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]) };
  const reps = Math.max(3, Math.min(200, Math.round(2e9 / (32 * m * k * n))));
  for (let i = 0; i < 3; i++) await s.run(feeds);
  const times = { cpu: [], wall: [] };
  for (let r = 0; r < 5; r++) {
    const t = await timed(async () => {
      for (let i = 0; i < reps; i++) await s.run(feeds);
    });
    times.cpu.push(t.cpu / reps / 16);
    times.wall.push(t.wall / reps / 16);
  }
  await s.release();
  return { cpu: median(times.cpu), wall: median(times.wall) };
}

/** The fused graph's projections per token: [K, N, count]. */
function matmulShapes(c) {
  const d = c.hiddenSize / c.numAttentionHeads;
  const L = c.numHiddenLayers;
  return [
    [c.hiddenSize, (c.numAttentionHeads + 2 * c.numKeyValueHeads) * d, L], // q|k|v
    [c.hiddenSize, c.hiddenSize, L], // o
    [c.hiddenSize, 2 * c.intermediateSize, L], // gate|up
    [c.intermediateSize, c.hiddenSize, L], // down
    [c.hiddenSize, c.vocabSize, 1], // lm head
  ];
}

/**
 * CPU and wall seconds of one run of the model's projection matmuls alone: per layer q|k|v,
 * o, gate|up and down with this model's shapes and weight sizes (one weight matrix each, as in
 * the model), chained with the minimum of glue (a Split, a Mul, an Add), then the LM head.
 */
async function projectionSeconds(c, m) {
  const d = c.hiddenSize / c.numAttentionHeads;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const g = new GraphBuilder('projections');
  let x = g.input('x', 'float32', [m, H]);
  const w = (name, k, n) =>
    g.initializer(
      name,
      'float32',
      [k, n],
      Float32Array.from({ length: k * n }, (_, i) => (((i * 7919) % 1000) / 1000 - 0.5) * 0.05),
    );
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const qkv = g.matmul(x, w(`qkv${l}`, H, (c.numAttentionHeads + 2 * c.numKeyValueHeads) * d));
    const [a] = g.split(qkv, -1, [H, (qkv.shape[1] ?? 0) - H]);
    const o = g.matmul(a, w(`o${l}`, H, H));
    const [gate, up] = g.split(g.matmul(o, w(`gu${l}`, H, 2 * I)), -1, [I, I]);
    x = g.add(x, g.matmul(g.mul(gate, up), w(`down${l}`, I, H)));
  }
  g.output(g.matmul(x, w('head', H, c.vocabSize)), 'logits');
  const s = await ort.InferenceSession.create(serializeGraph(g.build()), {
    intraOpNumThreads: THREADS,
  });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(m * H).fill(0.1), [m, H]) };
  for (let i = 0; i < 10; i++) await s.run(feeds);
  const reps = m === 1 ? 400 : 100;
  const times = { cpu: [], wall: [] };
  for (let r = 0; r < 7; r++) {
    const t = await timed(async () => {
      for (let i = 0; i < reps; i++) await s.run(feeds);
    });
    times.cpu.push(t.cpu / reps);
    times.wall.push(t.wall / reps);
  }
  await s.release();
  return { cpu: median(times.cpu), wall: median(times.wall) };
}

/** GFLOP/s (by CPU and by wall time): one 1024^3 MatMul, and this model's projections at
 * M = 1 and M = 16 rows (the matmul roofline of a decoding step). */
async function roofline(c) {
  const out = {};
  const rate = (flops, t) => ({ cpu: flops / t.cpu / 1e9, wall: flops / t.wall / 1e9 });
  out.peak = rate(2 * 1024 ** 3, await matmulSeconds(1024, 1024, 1024));
  const perToken = matmulShapes(c).reduce((a, [k, n, count]) => a + count * 2 * k * n, 0);
  for (const m of [1, 16]) out[`m${m}`] = rate(m * perToken, await projectionSeconds(c, m));
  return out;
}

/**
 * Does a graph that computes only the last position's logits save time? CPU ms of one prompt
 * pass (batch 1, LONG_PROMPT tokens) through the fused graph (Optimum I/O, empty past) with logits
 * 'all' vs 'last'.
 */
async function prefillLogitsChoice(model) {
  const c = model.config;
  const out = {};
  for (const logits of ['all', 'last']) {
    const bytes = buildLlamaOnnx(c, model.weights, { cache: 'optimum', fused: true, logits });
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: THREADS });
    const P = LONG_PROMPT;
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(promptIds(1, P, c.vocabSize), BigInt), [
        1,
        P,
      ]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(P).fill(1n), [1, P]),
      position_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: P }, (_, i) => BigInt(i)),
        [1, P],
      ),
    };
    for (let i = 0; i < c.numHiddenLayers; i++) {
      for (const kv of ['key', 'value']) {
        feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
          1,
          c.numKeyValueHeads,
          0,
          c.headDim,
        ]);
      }
    }
    await s.run(feeds);
    const times = [];
    for (let r = 0; r < 5; r++) times.push((await timed(() => s.run(feeds))).cpu * 1000);
    out[logits] = median(times);
    await s.release();
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Generators. Each returns seconds for: prompt of `prompt` tokens per row, then `steps` greedy
// tokens per row (B rows).

function argmaxRows(logits, B, V) {
  const next = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[b * V + v] > logits[b * V + best]) best = v;
    next[b] = best;
  }
  return next;
}

function promptIds(B, P, V) {
  return Int32Array.from({ length: B * P }, (_, i) => (i * 7 + 3) % V);
}

/** A clock reading: wall and CPU seconds since an arbitrary origin. */
function clock() {
  const c = process.cpuUsage();
  return { wall: performance.now() / 1000, cpu: (c.user + c.system) / 1e6 };
}

const since = (a, b) => ({ wall: b.wall - a.wall, cpu: b.cpu - a.cpu });

/**
 * Generators return { total, decode }: the whole generation, and the decoding passes after the
 * prompt pass (`passes` forward passes of one token per row).
 */
function causalLmGenerator(lm) {
  return async (B, P, steps) => {
    const V = lm.vocabSize;
    const t0 = clock();
    let r = await lm.forward(lm.newCache(B), { inputIds: promptIds(B, P, V), seqLen: P });
    const t1 = clock();
    for (let t = 0; t < steps; t++) {
      r = await lm.forward(r.cache, { inputIds: argmaxRows(r.logits, B, V), seqLen: 1 });
    }
    const t2 = clock();
    return { total: since(t0, t2), decode: since(t1, t2), passes: steps };
  };
}

function tjsGenerator(model, V) {
  return async (B, P, steps) => {
    const ids = BigInt64Array.from(promptIds(B, P, V), (x) => BigInt(x));
    // generate() yields `steps` new tokens with `steps` forward passes (the prompt pass gives
    // the first token); ours above makes steps + 1 passes, so tjs is not disadvantaged. Its
    // streamer sees the prompt, then each new token: decoding starts at the second put().
    let puts = 0;
    let t1;
    const streamer = {
      put() {
        if (++puts === 2) t1 = clock();
      },
      end() {},
    };
    const t0 = clock();
    await model.generate({
      input_ids: new Tensor('int64', ids, [B, P]),
      attention_mask: new Tensor('int64', new BigInt64Array(B * P).fill(1n), [B, P]),
      max_new_tokens: steps,
      min_new_tokens: steps,
      do_sample: false,
      streamer,
    });
    const t2 = clock();
    return { total: since(t0, t2), decode: since(t1 ?? t2, t2), passes: steps - 1 };
  };
}

// ------------------------------------------------------------------------------------------

async function main() {
  const model = createRandomModel(CONFIG, 1);
  const c = model.config;
  const params = parameterCount(c);
  const matmulFlopsPerToken = matmulShapes(c).reduce(
    (a, [k, n, count]) => a + count * 2 * k * n,
    0,
  );
  const attnFlopsPerKey = 4 * c.numAttentionHeads * c.headDim * c.numHiddenLayers;
  console.error(`# ${machine()}; ${params} parameters; ${THREADS} ORT threads; ${ROUNDS} rounds`);

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-inference-'));
  const dir = path.join(root, 'lm');
  await saveModelDir(dir, { config: c, weights: model.weights, onnx: true });
  const onnxFile = path.join(dir, 'onnx', 'model.onnx');

  env.allowRemoteModels = false;
  env.localModelPath = root;
  const tjs = await AutoModelForCausalLM.from_pretrained('lm', {
    dtype: 'fp32',
    device: 'cpu',
    session_options: { intraOpNumThreads: THREADS },
  });
  const ours = await OnnxCausalLM.create(model, { intraOpNumThreads: THREADS });
  const oursInt8 = await OnnxCausalLM.create(model, {
    weightFormat: 'int8',
    intraOpNumThreads: THREADS,
  });
  const oursFile = await OnnxCausalLM.fromOnnxFile(onnxFile, {
    config: c,
    intraOpNumThreads: THREADS,
  });
  const ref = new ReferenceCausalLM(model);

  const variants = [
    [OURS, causalLmGenerator(ours)],
    ['ours (buffer KV, fused, int8)', causalLmGenerator(oursInt8)],
    ['ours on the exported file (Optimum KV)', causalLmGenerator(oursFile)],
    [TJS, tjsGenerator(tjs, c.vocabSize)],
  ];
  const samples = {};
  const add = (k, t, tokens) => {
    (samples[`${k}|cpu`] ??= []).push(tokens / t.cpu);
    (samples[`${k}|wall`] ??= []).push(tokens / t.wall);
  };

  // Warm up every variant once.
  for (const [, gen] of variants) for (const B of [1, 16]) await gen(B, PROMPT, 2);

  for (let r = 0; r < ROUNDS; r++) {
    for (const B of [1, 16]) {
      // Rotate the order each round so no variant always runs first (or after another).
      for (let k = 0; k < variants.length; k++) {
        const [name, gen] = variants[(k + r) % variants.length];
        add(`${name}|${B}`, (await gen(B, PROMPT, NEW[B])).total, B * NEW[B]);
      }
      const refRun = await causalLmGenerator(ref)(B, PROMPT, REF_NEW[B]);
      add(`${REF}|${B}`, refRun.total, B * REF_NEW[B]);
    }
    // Long context, batch 1: decoding passes per second after a LONG_PROMPT-token prompt.
    for (let k = 0; k < variants.length; k++) {
      const [name, gen] = variants[(k + r) % variants.length];
      const t = await gen(1, LONG_PROMPT, LONG_NEW);
      add(`${name}|long`, t.decode, t.passes);
    }
    console.error(`round ${r + 1}/${ROUNDS} done`);
  }
  const roof = await roofline(c);
  const lastLogits = await prefillLogitsChoice(model);

  const med = (k) => (samples[k] ? median(samples[k]) : undefined);
  const fmt = (x) =>
    x === undefined || !Number.isFinite(x) || x <= 0 ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1);
  const lines = [];
  /** Median over rounds of the per-round ratio to transformers.js (both ran in that round). */
  const ratio = (n, k) => {
    const a = samples[`${n}|${k}`];
    const b = samples[`${TJS}|${k}`];
    return a && b ? median(a.map((x, i) => x / b[i])) : undefined;
  };
  for (const clock of ['cpu', 'wall']) {
    lines.push(
      `Tokens per ${clock === 'cpu' ? 'CPU' : 'wall-clock'} second (median of ${ROUNDS}; "vs tjs" = median of the per-round ratios):`,
    );
    lines.push('');
    lines.push(
      `| runtime | batch 1 | vs tjs | batch 16 | vs tjs | batch 1, context ${LONG_PROMPT} | vs tjs |`,
    );
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const n of [...variants.map(([v]) => v), REF]) {
      const cell = (k) => `${fmt(med(`${n}|${k}|${clock}`))} | ${fmt(ratio(n, `${k}|${clock}`))}x`;
      lines.push(`| ${n} | ${cell(1)} | ${cell(16)} | ${cell('long')} |`);
    }
    lines.push('');
  }
  const pct = (x, y) => `${((100 * x) / y).toFixed(0)}%`;
  const ours16 = med(`${OURS}|16|cpu`);
  const ours1 = med(`${OURS}|1|cpu`);
  const got16 = (ours16 * matmulFlopsPerToken) / 1e9;
  const got1 = (ours1 * matmulFlopsPerToken) / 1e9;
  const meanCtx = PROMPT + NEW[16] / 2;
  const flopsAt16 = matmulFlopsPerToken + attnFlopsPerKey * meanCtx;
  lines.push(
    `ORT MatMul GFLOP/s (CPU time, ${THREADS} thread${THREADS > 1 ? 's' : ''}): ${roof.peak.cpu.toFixed(0)} at 1024x1024x1024; this model's projection matmuls alone (one decoding step's worth, same weights): ${roof.m1.cpu.toFixed(1)} at batch 1, ${roof.m16.cpu.toFixed(1)} at batch 16.`,
  );
  lines.push(
    `FLOPs per token: ${(matmulFlopsPerToken / 1e6).toFixed(2)} M in the projections (2 x weights) + ${(attnFlopsPerKey / 1e3).toFixed(1)} K per context token of attention (${((matmulFlopsPerToken + attnFlopsPerKey * meanCtx) / 1e6).toFixed(2)} M at the batch-16 run's mean context ${meanCtx}).`,
  );
  lines.push(
    `Ours fp32, batch 16: ${got16.toFixed(1)} GFLOP/s of projection work (${((got16 * flopsAt16) / matmulFlopsPerToken).toFixed(1)} with attention) = ${pct(got16, roof.m16.cpu)} (${pct((got16 * flopsAt16) / matmulFlopsPerToken, roof.m16.cpu)}) of the batch-16 projection roofline, ${pct(got16, roof.peak.cpu)} of the 1024^3 rate; batch 1: ${got1.toFixed(1)} GFLOP/s = ${pct(got1, roof.m1.cpu)} of the batch-1 roofline.`,
  );
  lines.push(
    `Prompt pass of ${LONG_PROMPT} tokens (batch 1), CPU ms: logits for all positions ${lastLogits.all.toFixed(1)}, last position only ${lastLogits.last.toFixed(1)} (${(100 * (1 - lastLogits.last / lastLogits.all)).toFixed(1)}% saved).`,
  );
  const report = lines.join('\n');
  console.log(report);
  fs.mkdirSync(new URL('./.cache/', import.meta.url), { recursive: true });
  fs.writeFileSync(
    new URL('./.cache/lm-inference.json', import.meta.url),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: machine(),
        threads: THREADS,
        rounds: ROUNDS,
        samples,
        roofline: roof,
      },
      null,
      2,
    ),
  );
  await Promise.all([ours.dispose(), oursInt8.dispose(), oursFile.dispose(), tjs.dispose()]);
  fs.rmSync(root, { recursive: true, force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await main();
}
