/**
 * OnnxCausalLM (both cache designs, with and without fused ops) against ReferenceCausalLM through the CausalLM interface:
 * prefill, cached decoding, ragged batches, row selection, cache growth, model directories,
 * Optimum-style ONNX files and quantised weights.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ModelError,
  OnnxCausalLM,
  ReferenceCausalLM,
  buildLlamaOnnx,
  createRandomModel,
  dequantizeMatMulNBits,
  saveModelDir,
  type CausalLM,
  type KvCache,
  type LlamaConfigInit,
  type LlamaModel,
} from '../src/index.js';

const TOL = 1e-4;

const GQA: LlamaConfigInit = {
  vocabSize: 61,
  hiddenSize: 64,
  intermediateSize: 96,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 160,
};
const MHA: LlamaConfigInit = { ...GQA, numKeyValueHeads: 4, tieWordEmbeddings: true };

const model = (cfg: LlamaConfigInit, seed = 1): LlamaModel =>
  createRandomModel(cfg, seed, { std: 0.2, normStd: 0.2 });

function randomIds(n: number, vocab: number, seed: number): Int32Array {
  let x = seed;
  return Int32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % vocab;
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Drive two models with the same calls; return the worst logits difference over `keep`. */
class Pair {
  worst = 0;
  caches: [KvCache, KvCache];
  constructor(
    readonly a: CausalLM,
    readonly b: CausalLM,
    batch: number,
  ) {
    this.caches = [a.newCache(batch), b.newCache(batch)];
  }
  async step(
    ids: Int32Array,
    seqLen: number,
    opts: {
      mask?: Uint8Array;
      positions?: Int32Array;
      allPositions?: boolean;
      keep?: (i: number) => boolean;
    } = {},
  ): Promise<Float32Array> {
    const input = {
      inputIds: ids,
      seqLen,
      ...(opts.mask ? { attentionMask: opts.mask } : {}),
      ...(opts.positions ? { positionIds: opts.positions } : {}),
    };
    const o = { allPositions: opts.allPositions ?? false };
    const [ra, rb] = [
      await this.a.forward(this.caches[0], input, o),
      await this.b.forward(this.caches[1], input, o),
    ];
    this.caches = [ra.cache, rb.cache];
    const V = this.a.vocabSize;
    for (let i = 0; i < ra.logits.length / V; i++) {
      if (opts.keep && !opts.keep(i)) continue;
      this.worst = Math.max(
        this.worst,
        maxAbsDiff(ra.logits.subarray(i * V, (i + 1) * V), rb.logits.subarray(i * V, (i + 1) * V)),
      );
    }
    return ra.logits;
  }
  select(rows: number[]): void {
    this.caches = [
      this.a.selectRows(this.caches[0], rows),
      this.b.selectRows(this.caches[1], rows),
    ];
  }
}

describe.each([
  ['buffer', true, 'GQA', GQA],
  ['buffer', false, 'MHA tied', MHA],
  ['optimum', true, 'MHA tied', MHA],
  ['optimum', false, 'GQA', GQA],
] as const)('OnnxCausalLM, %s cache, fused ops %s, %s', (cache, fused, _label, cfg) => {
  const m = model(cfg);
  const ref = new ReferenceCausalLM(m);
  let lm: OnnxCausalLM;
  beforeAll(async () => {
    lm = await OnnxCausalLM.create(m, { cache, fused, intraOpNumThreads: 1 });
  });
  afterAll(async () => lm.dispose());

  it('reports its cache design, vocabulary and context', () => {
    expect(lm.cacheDesign).toBe(cache);
    expect(lm.vocabSize).toBe(61);
    expect(lm.maxPositions).toBe(160);
  });

  it('prefill then cached steps match the reference (batch 3)', async () => {
    const p = new Pair(lm, ref, 3);
    await p.step(randomIds(3 * 7, 61, 1), 7, { allPositions: true });
    expect(p.caches[0].length).toBe(7);
    for (let t = 0; t < 6; t++) await p.step(randomIds(3, 61, 50 + t), 1);
    // batch 1 continuation with several tokens at once
    p.select([1]);
    await p.step(randomIds(4, 61, 99), 4, { allPositions: true });
    expect(p.worst).toBeLessThan(TOL);
  });

  it('ragged left-padded prompts, then decoding and a ragged chunk', async () => {
    const lens = [5, 2, 4];
    const B = 3;
    const S = 5;
    const ids = randomIds(B * S, 61, 3);
    const mask = new Uint8Array(B * S);
    const pos = new Int32Array(B * S);
    const valid = new Set<number>();
    lens.forEach((n, b) => {
      for (let i = 0; i < n; i++) {
        mask[b * S + S - n + i] = 1;
        pos[b * S + S - n + i] = i;
        valid.add(b * S + S - n + i);
      }
    });
    const p = new Pair(lm, ref, B);
    await p.step(ids, S, { mask, positions: pos, allPositions: true, keep: (i) => valid.has(i) });
    let fullMask = mask;
    let T = S;
    const nextPos = Int32Array.from(lens);
    for (let t = 0; t < 3; t++) {
      const m2 = new Uint8Array(B * (T + 1));
      for (let b = 0; b < B; b++) {
        m2.set(fullMask.subarray(b * T, (b + 1) * T), b * (T + 1));
        m2[b * (T + 1) + T] = 1;
      }
      fullMask = m2;
      T += 1;
      await p.step(randomIds(B, 61, 70 + t), 1, { mask: fullMask, positions: nextPos });
      for (let b = 0; b < B; b++) nextPos[b]++;
    }
    // A 3-token chunk in which row 1 has only its last token real (left padding again).
    const chunkMask = new Uint8Array(B * (T + 3));
    const chunkPos = new Int32Array(B * 3);
    const chunkValid = new Set<number>();
    for (let b = 0; b < B; b++) {
      chunkMask.set(fullMask.subarray(b * T, (b + 1) * T), b * (T + 3));
      let k = 0;
      for (let s = 0; s < 3; s++) {
        const real = b !== 1 || s === 2;
        chunkMask[b * (T + 3) + T + s] = real ? 1 : 0;
        chunkPos[b * 3 + s] = nextPos[b] + k;
        if (real) {
          k++;
          chunkValid.add(b * 3 + s);
        }
      }
    }
    await p.step(randomIds(B * 3, 61, 90), 3, {
      mask: chunkMask,
      positions: chunkPos,
      allPositions: true,
      keep: (i) => chunkValid.has(i),
    });
    expect(p.worst).toBeLessThan(TOL);
  });

  it('selectRows keeps the chosen rows in order', async () => {
    const p = new Pair(lm, ref, 4);
    await p.step(randomIds(4 * 3, 61, 5), 3);
    p.select([3, 0]);
    expect(p.caches[0].batch).toBe(2);
    expect(p.caches[0].length).toBe(3);
    for (let t = 0; t < 3; t++) await p.step(randomIds(2, 61, 30 + t), 1);
    expect(p.worst).toBeLessThan(TOL);
  });

  it('runs past the initial cache capacity', async () => {
    const p = new Pair(lm, ref, 2);
    await p.step(randomIds(2 * 62, 61, 8), 62);
    for (let t = 0; t < 5; t++) await p.step(randomIds(2, 61, 40 + t), 1);
    expect(p.caches[0].length).toBe(67);
    expect(p.worst).toBeLessThan(TOL);
  });

  it('refuses bad requests with ModelError', async () => {
    const cache = lm.newCache(1);
    await expect(lm.forward(cache, { inputIds: Int32Array.from([61]), seqLen: 1 })).rejects.toThrow(
      /outside the vocabulary/,
    );
    await expect(
      lm.forward(cache, { inputIds: Int32Array.from([1, 2]), seqLen: 1 }),
    ).rejects.toThrow(ModelError);
    await expect(
      lm.forward(cache, {
        inputIds: Int32Array.from([1]),
        seqLen: 1,
        positionIds: Int32Array.from([160]),
      }),
    ).rejects.toThrow(/max_position_embeddings/);
    await expect(
      lm.forward(ref.newCache(1), { inputIds: Int32Array.from([1]), seqLen: 1 }),
    ).rejects.toThrow(/not made by this model/);
    expect(() => lm.newCache(0)).toThrow(ModelError);
    expect(() => lm.selectRows(cache, [1])).toThrow(/row 1/);
  });
});

describe('long inputs in chunks', () => {
  it.each(['buffer', 'optimum'] as const)(
    '%s cache: a prompt split to bound attention memory gives the same logits',
    async (cache) => {
      const m = model(GQA, 6);
      // 4 heads x batch 2 x (keys ~ 20 + 64): a limit of 2000 scores forces chunks of 3 tokens.
      const lm = await OnnxCausalLM.create(m, {
        cache,
        maxAttentionScores: 2000,
        intraOpNumThreads: 1,
      });
      const p = new Pair(lm, new ReferenceCausalLM(m), 2);
      const S = 9;
      const mask = new Uint8Array(2 * S).fill(1);
      mask[S] = 0; // row 1 left-padded by one token
      const pos = Int32Array.from({ length: 2 * S }, (_, i) =>
        i < S ? i : Math.max(0, i - S - 1),
      );
      await p.step(randomIds(2 * S, 61, 4), S, {
        mask,
        positions: pos,
        allPositions: true,
        keep: (i) => i !== S,
      });
      const mask2 = new Uint8Array(2 * (S + 3)).fill(1);
      mask2[S + 3] = 0;
      await p.step(randomIds(6, 61, 5), 3, { mask: mask2, allPositions: false });
      expect(p.caches[0].length).toBe(S + 3);
      expect(p.worst).toBeLessThan(TOL);
      await lm.dispose();
    },
  );
});

describe('quantised weights', () => {
  it.each([
    ['int8', 8],
    ['int4', 4],
  ] as const)(
    '%s weights encode exactly what dequantizeMatMulNBits says',
    async (weightFormat, bits) => {
      // With float32 compute, the quantised graph must equal a float graph whose projection
      // weights were replaced by their dequantised values: this checks the MatMulNBits packing.
      const m = model(GQA, 4);
      const deq = new Map(m.weights);
      for (const [name, t] of m.weights) {
        if (name.includes('_proj.')) {
          deq.set(name, {
            shape: t.shape,
            data: dequantizeMatMulNBits(t.data, t.shape[0], t.shape[1], bits, 32),
          });
        }
      }
      const q = await OnnxCausalLM.create(m, {
        weightFormat,
        quantizedCompute: 'float32',
        intraOpNumThreads: 1,
      });
      const p = new Pair(q, new ReferenceCausalLM({ config: m.config, weights: deq }), 2);
      await p.step(randomIds(2 * 8, 61, 2), 8, { allPositions: true });
      await p.step(randomIds(2, 61, 3), 1);
      expect(p.worst).toBeLessThan(TOL);
      await q.dispose();
    },
  );

  it.each(['int8', 'int4'] as const)(
    '%s weights with int8 compute stay near float32',
    async (weightFormat) => {
      const m = model(GQA, 4);
      const f = await OnnxCausalLM.create(m, { intraOpNumThreads: 1 });
      const q = await OnnxCausalLM.create(m, { weightFormat, intraOpNumThreads: 1 });
      const p = new Pair(q, f, 2);
      const logits = await p.step(randomIds(2 * 8, 61, 2), 8, { allPositions: true });
      const spread = Math.max(...logits) - Math.min(...logits);
      // Quantisation error of these random weights (not a bug; the exactness test above checks
      // the encoding): int8 a few percent of the logit range, int4 tens of percent.
      expect(p.worst / spread).toBeLessThan(weightFormat === 'int8' ? 0.05 : 0.5);
      expect(p.worst).toBeGreaterThan(0);
      await f.dispose();
      await q.dispose();
    },
  );
});

describe('model directories and ONNX files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'byte-lm-runtime-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('a model saved to a directory reloads with the same logits', async () => {
    const m = model(GQA, 9);
    await saveModelDir(dir, {
      config: m.config,
      weights: m.weights,
      tokenizerJson: { vocab: 'x' },
    });
    const fromDir = await OnnxCausalLM.fromModelDir(dir, { intraOpNumThreads: 1 });
    const p = new Pair(fromDir, new ReferenceCausalLM(m), 2);
    await p.step(randomIds(10, 61, 6), 5, { allPositions: true });
    await p.step(randomIds(2, 61, 7), 1);
    expect(p.worst).toBeLessThan(TOL);
    await fromDir.dispose();
  });

  it('loads an Optimum-style decoder file by its I/O names', async () => {
    const m = model(MHA, 10);
    const file = path.join(dir, 'model.onnx');
    await writeFile(file, buildLlamaOnnx(m.config, m.weights));
    const lm = await OnnxCausalLM.fromOnnxFile(file, { intraOpNumThreads: 1 });
    expect(lm.vocabSize).toBe(61);
    const p = new Pair(lm, new ReferenceCausalLM(m), 2);
    await p.step(randomIds(8, 61, 6), 4);
    await p.step(randomIds(2, 61, 7), 1);
    expect(p.worst).toBeLessThan(TOL);
    await lm.dispose();
  });

  it('refuses files that are not decoders', async () => {
    const junk = path.join(dir, 'junk.onnx');
    await writeFile(junk, 'not a protobuf at all');
    await expect(OnnxCausalLM.fromOnnxFile(junk)).rejects.toThrow(ModelError);
    await expect(OnnxCausalLM.fromOnnxFile(path.join(dir, 'missing.onnx'))).rejects.toThrow(
      /no such ONNX file/,
    );
    const noCache = path.join(dir, 'nocache.onnx');
    const m = model(GQA, 2);
    const { buildLlamaGraph, serializeGraph } = await import('../src/index.js');
    await writeFile(
      noCache,
      serializeGraph(buildLlamaGraph(m.config, m.weights, { cache: 'none' }).graph),
    );
    await expect(OnnxCausalLM.fromOnnxFile(noCache)).rejects.toThrow(/past_key_values.0.key/);
  });
});
