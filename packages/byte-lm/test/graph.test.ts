/**
 * The ONNX decoder graph (standard flavour, plain opset-17 ops) against the float64 TypeScript
 * reference forward pass, run directly through onnxruntime-node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  GraphBuilder,
  ReferenceModel,
  buildLlamaGraph,
  buildLlamaOnnx,
  createRandomModel,
  saveModelDir,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
  reshapeShape,
  serializeGraph,
  type LlamaConfigInit,
  type LlamaModel,
} from '../src/index.js';

const TOL = 1e-4;

const GQA: LlamaConfigInit = {
  vocabSize: 61,
  hiddenSize: 32,
  intermediateSize: 40,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 64,
  ropeTheta: 500,
};
const MHA: LlamaConfigInit = { ...GQA, numKeyValueHeads: 4, tieWordEmbeddings: true };

function model(cfg: LlamaConfigInit, seed = 1): LlamaModel {
  return createRandomModel(cfg, seed, { std: 0.25, normStd: 0.2 });
}

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  let x = seed;
  return Int32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % vocab;
  });
}

const i64 = (a: ArrayLike<number>): BigInt64Array =>
  BigInt64Array.from(Array.from(a), (v) => BigInt(v));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

interface RunArgs {
  ids: Int32Array;
  batch: number;
  seq: number;
  mask?: Uint8Array;
  positions?: Int32Array;
  past?: { keys: ort.Tensor[]; values: ort.Tensor[]; length: number };
}

/** One run of a standard-flavour session with Optimum I/O. */
async function runStandard(session: ort.InferenceSession, m: LlamaModel, a: RunArgs) {
  const c = m.config;
  const P = a.past?.length ?? 0;
  const T = P + a.seq;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', i64(a.ids), [a.batch, a.seq]),
    attention_mask: new ort.Tensor('int64', i64(a.mask ?? new Uint8Array(a.batch * T).fill(1)), [
      a.batch,
      T,
    ]),
    position_ids: new ort.Tensor(
      'int64',
      i64(a.positions ?? Int32Array.from({ length: a.batch * a.seq }, (_, i) => P + (i % a.seq))),
      [a.batch, a.seq],
    ),
  };
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const empty = () =>
      new ort.Tensor('float32', new Float32Array(0), [a.batch, c.numKeyValueHeads, 0, c.headDim]);
    feeds[pastKeyName(i)] = a.past?.keys[i] ?? empty();
    feeds[pastValueName(i)] = a.past?.values[i] ?? empty();
  }
  const out = await session.run(feeds);
  const keys = [];
  const values = [];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    keys.push(out[presentKeyName(i)] as ort.Tensor);
    values.push(out[presentValueName(i)] as ort.Tensor);
  }
  return {
    logits: out.logits.data as Float32Array,
    dims: out.logits.dims,
    past: { keys, values, length: T },
  };
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

describe('graph builder IR', () => {
  it('infers symbolic reshape shapes', () => {
    expect(reshapeShape(['b', 's', 32], [0, 0, 4, 8])).toEqual(['b', 's', 4, 8]);
    expect(reshapeShape(['b', 4, 's', 8], [0, 2, -1, 8])).toEqual(['b', 2, '2*s', 8]);
    expect(reshapeShape([2, 3, 4], [-1, 4])).toEqual([6, 4]);
  });

  it('serialises a graph ORT runs (MatMul + Softmax + constants)', async () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['n', 3]);
    const w = g.initializer('w', 'float32', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
    g.output(g.softmax(g.add(g.matmul(x, w), g.scalar(1)), -1), 'y');
    const s = await session(serializeGraph(g.build()));
    const out = await s.run({
      x: new ort.Tensor('float32', Float32Array.from([1, 0, -1]), [1, 3]),
    });
    // x.w = [1-5, 2-6] = [-4, -4] -> softmax = [0.5, 0.5]
    expect(Array.from(out.y.data as Float32Array)).toEqual([0.5, 0.5]);
  });

  it('records shapes of every value for later passes', () => {
    const m = model(GQA);
    const { graph } = buildLlamaGraph(m.config, m.weights);
    const logits = graph.outputs.find((o) => o.name === 'logits')!;
    expect(logits.shape).toEqual(['batch_size', 'sequence_length', 61]);
    expect(graph.nodes.every((n) => n.outputs.every((o) => o.shape !== undefined))).toBe(true);
    // Only standard ONNX ops in the standard flavour.
    expect(graph.nodes.every((n) => n.domain === '')).toBe(true);
  });
});

describe.each([
  ['GQA, untied head', GQA],
  ['MHA, tied head', MHA],
])('standard graph vs reference (%s)', (_label, cfg) => {
  const m = model(cfg);
  const ref = new ReferenceModel(m);
  const bytes = buildLlamaOnnx(m.config, m.weights);

  it('prefill logits match for a batch of 2', async () => {
    const s = await session(bytes);
    const ids = randomIds(2 * 9, m.config.vocabSize, 7);
    const got = await runStandard(s, m, { ids, batch: 2, seq: 9 });
    const want = ref.forward(ref.emptyCache(2), { inputIds: ids, seqLen: 9 });
    expect(got.dims).toEqual([2, 9, m.config.vocabSize]);
    expect(maxAbsDiff(got.logits, want.logits)).toBeLessThan(TOL);
    // The check is meaningful: logits vary by much more than the tolerance.
    expect(Math.max(...want.logits) - Math.min(...want.logits)).toBeGreaterThan(1);
  });

  it('step-by-step decoding with the KV cache matches the full forward', async () => {
    const s = await session(bytes);
    const B = 2;
    const L = 12;
    const ids = randomIds(B * L, m.config.vocabSize, 11);
    const full = ref.forward(ref.emptyCache(B), { inputIds: ids, seqLen: L }).logits;
    const V = m.config.vocabSize;
    const cols = (from: number, to: number): Int32Array => {
      const out = new Int32Array(B * (to - from));
      for (let b = 0; b < B; b++) out.set(ids.subarray(b * L + from, b * L + to), b * (to - from));
      return out;
    };
    let r = await runStandard(s, m, { ids: cols(0, 5), batch: B, seq: 5 });
    let worst = 0;
    for (let t = 5; t < L; t++) {
      r = await runStandard(s, m, { ids: cols(t, t + 1), batch: B, seq: 1, past: r.past });
      for (let b = 0; b < B; b++) {
        worst = Math.max(
          worst,
          maxAbsDiff(
            r.logits.subarray(b * V, (b + 1) * V),
            full.subarray((b * L + t) * V, (b * L + t + 1) * V),
          ),
        );
      }
    }
    expect(worst).toBeLessThan(TOL);
    expect(r.past.keys[0].dims).toEqual([B, m.config.numKeyValueHeads, L, m.config.headDim]);
  });

  it('left padding via attention_mask leaves the real tokens unaffected', async () => {
    const s = await session(bytes);
    const V = m.config.vocabSize;
    const lens = [6, 3, 1];
    const S = 6;
    const B = lens.length;
    const rows = lens.map((n, b) => randomIds(n, V, 100 + b));
    const ids = new Int32Array(B * S);
    const mask = new Uint8Array(B * S);
    const pos = new Int32Array(B * S);
    rows.forEach((r, b) => {
      const pad = S - r.length;
      ids.set(r, b * S + pad);
      for (let i = 0; i < r.length; i++) {
        mask[b * S + pad + i] = 1;
        pos[b * S + pad + i] = i; // HF: position_ids = cumsum(mask) - 1
      }
    });
    const got = await runStandard(s, m, { ids, batch: B, seq: S, mask, positions: pos });
    const want = ref.forward(ref.emptyCache(B), {
      inputIds: ids,
      seqLen: S,
      attentionMask: mask,
      positionIds: pos,
    });
    expect(maxAbsDiff(got.logits, want.logits)).toBeLessThan(TOL);
    // Each padded row equals the same row run alone without padding.
    for (let b = 0; b < B; b++) {
      const n = lens[b];
      const alone = ref.forward(ref.emptyCache(1), { inputIds: rows[b], seqLen: n }).logits;
      const padded = got.logits.subarray((b * S + S - n) * V, (b + 1) * S * V);
      expect(maxAbsDiff(padded, alone)).toBeLessThan(TOL);
    }
    // And a decoding step after the padded prompt still ignores the padding.
    const next = randomIds(B, V, 5);
    const mask2 = new Uint8Array(B * (S + 1));
    for (let b = 0; b < B; b++) {
      mask2.set(mask.subarray(b * S, (b + 1) * S), b * (S + 1));
      mask2[b * (S + 1) + S] = 1;
    }
    const step = await runStandard(s, m, {
      ids: next,
      batch: B,
      seq: 1,
      mask: mask2,
      positions: Int32Array.from(lens),
      past: got.past,
    });
    for (let b = 0; b < B; b++) {
      const seqIds = Int32Array.from([...rows[b], next[b]]);
      const alone = ref.forward(ref.emptyCache(1), {
        inputIds: seqIds,
        seqLen: seqIds.length,
      }).logits;
      expect(
        maxAbsDiff(step.logits.subarray(b * V, (b + 1) * V), alone.subarray(lens[b] * V)),
      ).toBeLessThan(TOL);
    }
  });
});

describe('standard graph variants', () => {
  const m = model(GQA, 3);
  const ref = new ReferenceModel(m);
  const V = m.config.vocabSize;

  it("logits: 'last' returns only the last position", async () => {
    const s = await session(buildLlamaOnnx(m.config, m.weights, { logits: 'last' }));
    const ids = randomIds(2 * 5, V, 3);
    const got = await runStandard(s, m, { ids, batch: 2, seq: 5 });
    expect(got.dims).toEqual([2, 1, V]);
    const want = ref.forward(ref.emptyCache(2), { inputIds: ids, seqLen: 5 }).logits;
    for (let b = 0; b < 2; b++) {
      expect(
        maxAbsDiff(
          got.logits.subarray(b * V, (b + 1) * V),
          want.subarray((b * 5 + 4) * V, (b * 5 + 5) * V),
        ),
      ).toBeLessThan(TOL);
    }
  });

  it('training form: no cache, no mask, weights as graph inputs', async () => {
    const { graph, weightInputs } = buildLlamaGraph(m.config, undefined, {
      cache: 'none',
      weights: 'inputs',
      attentionMask: false,
    });
    expect(weightInputs.map((w) => w.name)).toContain('model.layers.1.mlp.down_proj.weight');
    expect(graph.initializers.some((i) => i.value.name.includes('proj'))).toBe(false);
    const s = await session(serializeGraph(graph));
    const ids = randomIds(2 * 6, V, 9);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', i64(ids), [2, 6]),
      position_ids: new ort.Tensor(
        'int64',
        i64(Int32Array.from({ length: 12 }, (_, i) => i % 6)),
        [2, 6],
      ),
    };
    for (const w of weightInputs) {
      const t = m.weights.get(w.name)!;
      feeds[w.name] = new ort.Tensor('float32', t.data, [...t.shape]);
    }
    const out = await s.run(feeds);
    expect(s.outputNames).toEqual(['logits']);
    const want = ref.forward(ref.emptyCache(2), { inputIds: ids, seqLen: 6 }).logits;
    expect(maxAbsDiff(out.logits.data as Float32Array, want)).toBeLessThan(TOL);
  });
});

describe('interoperability with transformers.js', () => {
  it('transformers.js greedy-decodes the same tokens from our exported model directory', async () => {
    const m = model(GQA, 12);
    const root = await mkdtemp(path.join(os.tmpdir(), 'byte-lm-tjs-'));
    try {
      await saveModelDir(path.join(root, 'lm'), {
        config: m.config,
        weights: m.weights,
        onnx: true,
      });
      env.allowRemoteModels = false;
      env.localModelPath = root;
      const tjs = await AutoModelForCausalLM.from_pretrained('lm', {
        dtype: 'fp32',
        device: 'cpu',
        session_options: { intraOpNumThreads: 1 },
      });
      const B = 2;
      const P = 5;
      const N = 12;
      const prompt = randomIds(B * P, m.config.vocabSize, 77);
      const out = (await tjs.generate({
        input_ids: new Tensor('int64', i64(prompt), [B, P]),
        attention_mask: new Tensor('int64', new BigInt64Array(B * P).fill(1n), [B, P]),
        max_new_tokens: N,
        min_new_tokens: N,
        do_sample: false,
      })) as Tensor;
      await tjs.dispose();
      // Our greedy decoding with the float64 reference.
      const ref = new ReferenceModel(m);
      const V = m.config.vocabSize;
      for (let b = 0; b < B; b++) {
        const seq = Array.from(prompt.subarray(b * P, (b + 1) * P));
        for (let t = 0; t < N; t++) {
          const logits = ref.forward(ref.emptyCache(1), {
            inputIds: Int32Array.from(seq),
            seqLen: seq.length,
          }).logits;
          const last = logits.subarray((seq.length - 1) * V);
          let best = 0;
          for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
          seq.push(best);
        }
        const theirs = Array.from(out.data as BigInt64Array, Number).slice(
          b * (P + N),
          (b + 1) * (P + N),
        );
        expect(theirs).toEqual(seq);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
