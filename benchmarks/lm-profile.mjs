#!/usr/bin/env node
// Where one decoding step of the byte-LM runtime spends its time: ORT's own profiler on the
// graph OnnxCausalLM runs by default (buffer KV cache, fused ops, float32), on lm-inference.mjs's
// ~5M-parameter config with random weights. Prints the step's wall time inside ORT, the number
// of kernels, and kernel time per op type (microseconds per step, median over the steps).
//
// Usage: npx tsc -b && node benchmarks/lm-profile.mjs [--batch 1] [--context 128] [--steps 200]
//        [--threads 1]
// This is a diagnosis tool for issue 4's batch-16 target, not a peer comparison.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildLlamaOnnx, createRandomModel } from '../packages/byte-lm/dist/index.js';
import { median, numberOption } from './lib/bench.mjs';
import { CONFIG } from './lm-inference.mjs';

const B = numberOption('--batch', 1);
const C = numberOption('--context', 128);
const STEPS = numberOption('--steps', 200);
const THREADS = numberOption('--threads', 1);

const model = createRandomModel(CONFIG, 1);
const c = model.config;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jpeglm-profile-'));
const graph = buildLlamaOnnx(c, model.weights, { cache: 'buffer', fused: true });
const options = { intraOpNumThreads: THREADS, graphOptimizationLevel: 'all' };
const session = await ort.InferenceSession.create(graph, {
  ...options,
  enableProfiling: true,
  profileFilePrefix: path.join(dir, 'profile'),
});
// One decoding step: one new token per row after C cached slots, all visible.
const int64 = (n, v) => new BigInt64Array(n).fill(BigInt(v));
const feeds = {
  input_ids: new ort.Tensor('int64', int64(B, 5), [B, 1]),
  attention_bias: new ort.Tensor('float32', new Float32Array(B * (C + 1)), [B, 1, 1, C + 1]),
  position_ids: new ort.Tensor('int64', int64(B, C), [B, 1]),
};
const kvDims = [B, c.numKeyValueHeads, C, c.headDim];
for (let i = 0; i < c.numHiddenLayers; i++) {
  for (const kv of ['key', 'value']) {
    const data = new Float32Array(kvDims.reduce((a, d) => a * d, 1)).fill(0.01);
    feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', data, kvDims);
  }
}
for (let s = 0; s < STEPS; s++) await session.run(feeds);
await session.release();
// The profiler's own bookkeeping inflates every kernel; the same steps without it, by CPU time
// (all work is on this thread with one ORT thread), calibrate the absolute figures.
const plain = await ort.InferenceSession.create(graph, options);
for (let s = 0; s < STEPS / 10; s++) await plain.run(feeds);
const cpu0 = process.cpuUsage();
for (let s = 0; s < STEPS; s++) await plain.run(feeds);
const cpu = process.cpuUsage(cpu0);
const plainUs = (cpu.user + cpu.system) / STEPS;
await plain.release();

const file = fs.readdirSync(dir).map((f) => path.join(dir, f))[0];
const events = JSON.parse(fs.readFileSync(file, 'utf8'));
fs.rmSync(dir, { recursive: true });
// Skip the first tenth of the steps (allocator warm-up).
const runs = events.filter((e) => e.name === 'model_run').slice(Math.floor(STEPS / 10));
const first = runs[0].ts;
const kernels = events.filter(
  (e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= first,
);
const perRun = new Map(); // op -> run index -> microseconds
let run = 0;
for (const k of kernels) {
  while (run + 1 < runs.length && k.ts >= runs[run + 1].ts) run++;
  // Matmuls with a weight (projections, head: the profiler lists activations only, so one input)
  // apart from those between two activations (attention).
  const op =
    k.args.op_name === 'MatMul' || k.args.op_name === 'FusedMatMul'
      ? `${k.args.op_name} (${k.args.input_type_shape.length === 1 ? 'weights' : 'attention'})`
      : k.args.op_name;
  if (!perRun.has(op)) perRun.set(op, new Float64Array(runs.length));
  perRun.get(op)[run] += k.dur;
}
const stepUs = median(runs.map((r) => r.dur));
const kernelCount = kernels.length / runs.length;
const rows = [...perRun].map(([op, us]) => [op, median([...us])]).sort((a, b) => b[1] - a[1]);
const kernelUs = rows.reduce((a, [, us]) => a + us, 0);
console.log(
  `batch ${B}, ${C} cached slots, ${THREADS} ORT thread(s): step ${stepUs.toFixed(0)} us inside ORT, ` +
    `${kernelCount.toFixed(0)} kernels, ${kernelUs.toFixed(0)} us in kernels ` +
    `(${(stepUs - kernelUs).toFixed(0)} us between them), all inflated by profiling: the same ` +
    `step unprofiled takes ${plainUs.toFixed(0)} us of CPU time (session.run included)\n`,
);
console.log('| op | us per step (profiled) | share of kernel time |\n| --- | ---: | ---: |');
for (const [op, us] of rows) {
  console.log(`| ${op} | ${us.toFixed(1)} | ${((100 * us) / kernelUs).toFixed(1)}% |`);
}
