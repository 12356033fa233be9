/**
 * Every differentiation rule against central finite differences, in float64 (ORT's CPU kernels
 * of every op here accept double), through onnxruntime-node itself: the graph computes
 * loss = sum(op(inputs) * r) for a random r and its gradient; each input element is nudged by
 * +-h and the loss difference compared with the gradient.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr, serializeGraph, type Value } from '../src/index.js';
import { GRADIENT_RULES, backward, type GradientRule } from '../src/train/autodiff.js';
import { promoteToFloat64, reopenGraph } from '../src/train/graph-edit.js';
import { IGNORE_INDEX, buildTrainGraph } from '../src/train/train-graph.js';
import { llamaConfig } from '../src/config.js';
import { createRandomModel } from '../src/model-dir.js';

type Dims = readonly number[];

function rand(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296 - 0.5;
  };
}

function f64(dims: Dims, seed: number, offset = 0): ort.Tensor {
  const r = rand(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor(
    'float64',
    Float64Array.from({ length: n }, () => 2 * r() + offset),
    [...dims],
  );
}

interface Case {
  readonly name: string;
  /** Op types whose rules this case exercises. */
  readonly ops: readonly string[];
  /** Build y from inputs; returns the inputs to differentiate and y. */
  readonly build: (g: GraphBuilder) => { wrt: Value[]; y: Value };
  readonly feeds: Record<string, ort.Tensor>;
  readonly yDims: Dims;
}

const covered = new Set<string>();

async function checkCase(c: Case): Promise<number> {
  c.ops.forEach((o) => covered.add(o));
  const g = new GraphBuilder('gradcheck');
  const { wrt, y } = c.build(g);
  const r = g.input('r', y.dtype, y.shape ?? [...c.yDims]);
  const loss = g.op('ReduceSum', [g.mul(y, r)], { keepdims: attr.int(0) }, [
    { dtype: y.dtype, shape: [] },
  ])[0];
  g.output(loss, 'loss');
  const grads = backward(g, g.build(), loss, wrt);
  for (const w of wrt) g.output(grads.get(w.name)!, `grad:${w.name}`);
  const session = await ort.InferenceSession.create(serializeGraph(g.build()));
  const feeds: Record<string, ort.Tensor> = { ...c.feeds, r: f64(c.yDims, 99) };
  const out = await session.run(feeds);
  const lossAt = async (name: string, i: number, delta: number): Promise<number> => {
    const t = feeds[name];
    const data = Float64Array.from(t.data as Float64Array);
    data[i] += delta;
    const o = await session.run({ ...feeds, [name]: new ort.Tensor('float64', data, t.dims) });
    return (o.loss.data as Float64Array)[0];
  };
  let worst = 0;
  const h = 1e-6;
  for (const w of wrt) {
    const analytic = out[`grad:${w.name}`];
    expect(analytic.dims).toEqual(feeds[w.name].dims);
    const a = analytic.data as Float64Array;
    for (let i = 0; i < a.length; i++) {
      const fd = ((await lossAt(w.name, i, h)) - (await lossAt(w.name, i, -h))) / (2 * h);
      const err = Math.abs(fd - a[i]) / Math.max(1, Math.abs(fd));
      worst = Math.max(worst, err);
    }
  }
  await session.release();
  return worst;
}

const int64 = (dims: Dims, values: number[]): ort.Tensor =>
  new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [...dims]);

const CASES: Case[] = [
  {
    name: 'Add with broadcasting both ways',
    ops: ['Add'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 1, 4]);
      const b = g.input('b', 'float64', [3, 1]);
      return { wrt: [a, b], y: g.add(a, b) };
    },
    feeds: { a: f64([2, 1, 4], 1), b: f64([3, 1], 2) },
    yDims: [2, 3, 4],
  },
  {
    name: 'Sub, Mul, Div with a broadcast vector',
    ops: ['Sub', 'Mul', 'Div'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3, 4]);
      const b = g.input('b', 'float64', [4]);
      const c = g.input('c', 'float64', [1, 3, 1]);
      return { wrt: [a, b, c], y: g.div(g.mul(g.sub(a, b), c), g.add(b, g.scalar(2, 'float64'))) };
    },
    feeds: { a: f64([2, 3, 4], 3), b: f64([4], 4), c: f64([1, 3, 1], 5) },
    yDims: [2, 3, 4],
  },
  {
    name: 'Div by a broadcast denominator',
    ops: ['Div'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3]);
      const b = g.input('b', 'float64', [2, 1]);
      return { wrt: [a, b], y: g.div(a, b) };
    },
    feeds: { a: f64([2, 3], 6), b: f64([2, 1], 7, 3) },
    yDims: [2, 3],
  },
  {
    name: 'Pow with constant exponents 2 and 3 and a variable exponent',
    ops: ['Pow'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3]);
      const e = g.input('e', 'float64', [3]);
      const sq = g.pow(a, g.scalar(2, 'float64'));
      const cube = g.pow(a, g.scalar(3, 'float64'));
      const pa = g.add(g.mul(a, a), g.scalar(1, 'float64')); // positive base for a^e
      return { wrt: [a, e], y: g.add(g.add(sq, cube), g.pow(pa, e)) };
    },
    feeds: { a: f64([2, 3], 8), e: f64([3], 9) },
    yDims: [2, 3],
  },
  {
    name: 'Sqrt, Reciprocal, Neg, Exp, Log, Tanh, Sigmoid, Relu',
    ops: ['Sqrt', 'Reciprocal', 'Neg', 'Exp', 'Log', 'Tanh', 'Sigmoid', 'Relu', 'Identity'],
    build: (g) => {
      const a = g.input('a', 'float64', [3, 4]);
      const pos = g.add(g.mul(a, a), g.scalar(0.5, 'float64'));
      const u = (op: string, x: Value): Value =>
        g.op(op, [x], {}, [{ dtype: x.dtype, shape: x.shape }])[0];
      const terms = [
        g.sqrt(pos),
        g.reciprocal(pos),
        g.neg(a),
        g.exp(a),
        u('Log', pos),
        u('Tanh', a),
        g.sigmoid(a),
        u('Relu', g.add(a, g.scalar(0.05, 'float64'))),
        g.identity(a),
      ];
      return { wrt: [a], y: terms.reduce((s, t) => g.add(s, t)) };
    },
    feeds: { a: f64([3, 4], 10) },
    yDims: [3, 4],
  },
  {
    name: 'Softmax and LogSoftmax over the last and a middle axis',
    ops: ['Softmax', 'LogSoftmax'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3, 4]);
      const lsm = g.op('LogSoftmax', [a], { axis: attr.int(1) }, [
        { dtype: 'float64', shape: [2, 3, 4] },
      ])[0];
      return { wrt: [a], y: g.add(g.softmax(a, -1), lsm) };
    },
    feeds: { a: f64([2, 3, 4], 11) },
    yDims: [2, 3, 4],
  },
  {
    name: 'MatMul: linear layer, batched, broadcast batch, 2-D x batched',
    ops: ['MatMul'],
    build: (g) => {
      const x = g.input('x', 'float64', [2, 3, 4]);
      const w = g.input('w', 'float64', [4, 5]);
      const b = g.input('b', 'float64', [2, 5, 3]);
      const c = g.input('c', 'float64', [1, 4, 5]);
      const d = g.input('d', 'float64', [3, 4]);
      const lin = g.matmul(x, w); // [2,3,5]
      const bat = g.matmul(lin, b); // [2,3,3]
      const bro = g.matmul(x, c); // [2,3,5]
      const m2 = g.matmul(g.transpose(d, [1, 0]), bat); // [4,3] x [2,3,3] -> [2,4,3]
      return { wrt: [x, w, b, c, d], y: g.add(g.transpose(g.reduceMean(bro, [2]), [0, 2, 1]), m2) };
    },
    feeds: {
      x: f64([2, 3, 4], 12),
      w: f64([4, 5], 13),
      b: f64([2, 5, 3], 14),
      c: f64([1, 4, 5], 15),
      d: f64([3, 4], 16),
    },
    yDims: [2, 4, 3],
  },
  {
    name: 'Gather (embedding lookup with repeated ids) and Cast',
    ops: ['Gather'],
    build: (g) => {
      const e = g.input('e', 'float64', [5, 3]);
      const ids = g.input('ids', 'int64', [2, 3]);
      return { wrt: [e], y: g.gather(e, ids) };
    },
    feeds: { e: f64([5, 3], 17), ids: int64([2, 3], [1, 4, 1, 0, 4, 4]) },
    yDims: [2, 3, 3],
  },
  {
    name: 'GatherElements along the last axis',
    ops: ['GatherElements'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3, 4]);
      const idx = g.input('idx', 'int64', [2, 3, 1]);
      const y = g.op('GatherElements', [a, idx], { axis: attr.int(-1) }, [
        { dtype: 'float64', shape: [2, 3, 1] },
      ])[0];
      return { wrt: [a], y };
    },
    feeds: { a: f64([2, 3, 4], 18), idx: int64([2, 3, 1], [0, 3, 3, 1, 2, 0]) },
    yDims: [2, 3, 1],
  },
  {
    name: 'Reshape, Transpose, Unsqueeze, Squeeze, Expand',
    ops: ['Reshape', 'Transpose', 'Unsqueeze', 'Squeeze', 'Expand'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 6]);
      const b = g.input('b', 'float64', [3, 1]);
      const r = g.transpose(g.reshape(a, [2, 3, 2]), [2, 0, 1]); // [2,2,3]
      const u = g.unsqueeze(b, [0]); // [1,3,1]
      const sq = g.op('Squeeze', [u, g.int64s([0])], {}, [{ dtype: 'float64', shape: [3, 1] }])[0];
      const ex = g.op('Expand', [sq, g.int64s([2, 3, 2])], {}, [
        { dtype: 'float64', shape: [2, 3, 2] },
      ])[0];
      return { wrt: [a, b], y: g.add(r, g.transpose(ex, [0, 2, 1])) };
    },
    feeds: { a: f64([2, 6], 19), b: f64([3, 1], 20) },
    yDims: [2, 2, 3],
  },
  {
    name: 'Tile (repeats on two axes)',
    ops: ['Tile'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 1, 3]);
      return { wrt: [a], y: g.tile(a, [2, 3, 1]) };
    },
    feeds: { a: f64([2, 1, 3], 30) },
    yDims: [4, 3, 3],
  },
  {
    name: 'Concat and Split with known sizes, one split output unused',
    ops: ['Concat', 'Split'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3]);
      const b = g.input('b', 'float64', [2, 2]);
      const [p, , q] = g.split(g.concat([a, b], 1), 1, [2, 1, 2]);
      return { wrt: [a, b], y: g.concat([q, p, a], 1) };
    },
    feeds: { a: f64([2, 3], 21), b: f64([2, 2], 22) },
    yDims: [2, 7],
  },
  {
    name: 'Concat along a symbolic axis, Slice with symbolic and negative bounds',
    ops: ['Concat', 'Slice'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 'n']);
      const b = g.input('b', 'float64', [2, 'm']);
      const cat = g.concat([a, b], 1); // [2, n+m] = [2, 5]
      const s1 = g.slice(cat, [1], [-1], [1]); // [2, 3]
      const s2 = g.slice(cat, [-4, 0], [100, 1], [1, 0]); // [1, 4]
      return { wrt: [a, b], y: g.add(g.slice(s1, [0], [3], [1]), g.slice(s2, [1], [4], [1])) };
    },
    feeds: { a: f64([2, 2], 23), b: f64([2, 3], 24) },
    yDims: [2, 3],
  },
  {
    name: 'Slice with static bounds on two axes',
    ops: ['Slice'],
    build: (g) => {
      const a = g.input('a', 'float64', [3, 5]);
      return { wrt: [a], y: g.slice(a, [1, -3], [3, 1000], [0, 1]) };
    },
    feeds: { a: f64([3, 5], 25) },
    yDims: [2, 3],
  },
  {
    name: 'ReduceMean (keepdims 1 and 0), ReduceSum, ReduceSumSquare',
    ops: ['ReduceMean', 'ReduceSum', 'ReduceSumSquare'],
    build: (g) => {
      const a = g.input('a', 'float64', [2, 3, 4]);
      const m1 = g.reduceMean(a, [-1]); // [2,3,1]
      const m0 = g.reduceMean(a, [0, 2], false); // [3]
      const s = g.op('ReduceSum', [a, g.int64s([1])], { keepdims: attr.int(1) }, [
        { dtype: 'float64', shape: [2, 1, 4] },
      ])[0];
      const ss = g.op('ReduceSumSquare', [a], { axes: attr.ints([2]), keepdims: attr.int(1) }, [
        { dtype: 'float64', shape: [2, 3, 1] },
      ])[0];
      const y = g.add(g.add(g.add(m1, g.unsqueeze(m0, [1])), s), ss); // [2,3,4]
      return { wrt: [a], y };
    },
    feeds: { a: f64([2, 3, 4], 26) },
    yDims: [2, 3, 4],
  },
  {
    name: 'ReduceMean over a symbolic axis',
    ops: ['ReduceMean'],
    build: (g) => {
      const a = g.input('a', 'float64', ['b', 4]);
      return { wrt: [a], y: g.reduceMean(a, [0]) };
    },
    feeds: { a: f64([3, 4], 27) },
    yDims: [1, 4],
  },
  {
    name: 'Where with a broadcast condition (causal-mask pattern)',
    ops: ['Where'],
    build: (g) => {
      const cond = g.input('cond', 'bool', [3, 3]);
      const x = g.input('x', 'float64', [2, 3, 3]);
      const y = g.input('y', 'float64', [3]);
      return { wrt: [x, y], y: g.softmax(g.where(cond, x, y), -1) };
    },
    feeds: {
      cond: new ort.Tensor('bool', Uint8Array.from([1, 0, 0, 1, 1, 0, 1, 1, 1]), [3, 3]),
      x: f64([2, 3, 3], 28),
      y: f64([3], 29),
    },
    yDims: [2, 3, 3],
  },
];

describe('gradient rules against finite differences (float64)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      expect(await checkCase(c)).toBeLessThan(1e-7);
    });
  }

  it('Cast between float types (float32 path, loose tolerance)', async () => {
    const g = new GraphBuilder('cast');
    const a = g.input('a', 'float32', [4]);
    const y = g.cast(g.mul(g.cast(a, 'float64'), g.cast(a, 'float64')), 'float32');
    const loss = g.op('ReduceSum', [y], { keepdims: attr.int(0) }, [
      { dtype: 'float32', shape: [] },
    ])[0];
    g.output(loss, 'loss');
    g.output(backward(g, g.build(), loss, [a]).get('a')!, 'ga');
    covered.add('Cast');
    const s = await ort.InferenceSession.create(serializeGraph(g.build()));
    const x = Float32Array.from([0.5, -1.25, 2, 3]);
    const out = await s.run({ a: new ort.Tensor('float32', x, [4]) });
    expect(Array.from(out.ga.data as Float32Array)).toEqual(Array.from(x, (v) => 2 * v));
  });

  it('a wrt value the loss does not depend on gets zeros; non-scalar loss is refused', async () => {
    const g = new GraphBuilder('zeros');
    const a = g.input('a', 'float32', [2]);
    const b = g.input('b', 'float32', [3]);
    const loss = g.op('ReduceSum', [a], { keepdims: attr.int(0) }, [
      { dtype: 'float32', shape: [] },
    ])[0];
    g.output(loss, 'loss');
    const grads = backward(g, g.build(), loss, [a, b]);
    g.output(grads.get('b')!, 'gb');
    const s = await ort.InferenceSession.create(serializeGraph(g.build()));
    const out = await s.run({
      a: new ort.Tensor('float32', Float32Array.from([1, 2]), [2]),
      b: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [3]),
    });
    expect(Array.from(out.gb.data as Float32Array)).toEqual([0, 0, 0]);
    expect(() => backward(g, g.build(), a, [a])).toThrow(/must be a scalar/);
  });

  it('an op without a rule is refused with its name', () => {
    const g = new GraphBuilder('norule');
    const a = g.input('a', 'float32', [2]);
    const y = g.op('Erf', [a], {}, [{ dtype: 'float32', shape: [2] }])[0];
    const loss = g.op('ReduceSum', [y], { keepdims: attr.int(0) }, [
      { dtype: 'float32', shape: [] },
    ])[0];
    expect(() => backward(g, g.build(), loss, [a])).toThrow(/no gradient for Erf/);
  });

  it('every op the Llama loss graph differentiates has a rule checked above', () => {
    const config = llamaConfig({
      vocabSize: 11,
      hiddenSize: 8,
      intermediateSize: 12,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
    });
    const { graph } = buildTrainGraph(config, { kind: 'loss' });
    const { g, value } = reopenGraph(graph);
    const used = new Set<string>();
    const recording = Object.fromEntries(
      Object.entries(GRADIENT_RULES).map(([op, rule]): [string, GradientRule] => [
        op,
        (...args) => {
          used.add(op);
          return rule(...args);
        },
      ]),
    );
    const weights = graph.inputs.filter((v) => v.dtype === 'float32' && v.name.includes('.'));
    backward(
      g,
      g.build(),
      value('loss'),
      weights.map((w) => value(w.name)),
      {
        rules: recording,
      },
    );
    expect(used.size).toBeGreaterThan(10);
    for (const op of used) expect(covered.has(op), `finite-difference case for ${op}`).toBe(true);
  });
});

describe('the tiny Llama training loss', () => {
  it('has the gradient finite differences give, for random weights of every kind (float64)', async () => {
    const config = llamaConfig({
      vocabSize: 13,
      hiddenSize: 16,
      intermediateSize: 24,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      maxPositionEmbeddings: 16,
      ropeTheta: 100,
    });
    const train = buildTrainGraph(config, { kind: 'gradients' });
    const session = await ort.InferenceSession.create(
      serializeGraph(promoteToFloat64(train.graph)),
    );
    const weights = createRandomModel(config, 3, { std: 0.3, normStd: 0.3 }).weights;
    const B = 2;
    const S = 5;
    const ids = [1, 5, 7, 2, 12, 0, 3, 3, 9, 4];
    const targets = [5, 7, 2, 12, IGNORE_INDEX, 3, 3, 9, 4, 11];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64([B, S], ids),
      position_ids: int64([B, S], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]),
      targets: int64([B, S], targets),
      loss_scale: new ort.Tensor('float64', Float64Array.of(1 / 9), []),
    };
    for (const w of train.weights) {
      feeds[w.name] = new ort.Tensor('float64', Float64Array.from(weights.get(w.name)!.data), [
        ...w.shape,
      ]);
    }
    const out = await session.run(feeds);
    const r = rand(5);
    let checked = 0;
    let worst = 0;
    const h = 1e-6;
    for (const w of train.weights) {
      const grad = out[`updated.grad_acc.${w.name}`].data as Float64Array;
      expect(grad.length).toBe(feeds[w.name].size);
      // Three random elements of every tensor, and the largest-gradient element.
      let big = 0;
      for (let i = 1; i < grad.length; i++) if (Math.abs(grad[i]) > Math.abs(grad[big])) big = i;
      const picks = [big, ...[0, 1, 2].map(() => Math.floor((r() + 0.5) * grad.length))];
      for (const i of picks) {
        const at = async (delta: number): Promise<number> => {
          const data = Float64Array.from(feeds[w.name].data as Float64Array);
          data[i] += delta;
          const o = await session.run({
            ...feeds,
            [w.name]: new ort.Tensor('float64', data, feeds[w.name].dims),
          });
          return (o.loss.data as Float64Array)[0];
        };
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - grad[i]) / Math.max(1e-3, Math.abs(fd)));
        checked++;
      }
      // A nonzero gradient reaches every tensor (the largest element is not zero).
      expect(Math.abs(grad[big])).toBeGreaterThan(1e-6);
    }
    expect(checked).toBe(4 * train.weights.length);
    expect(worst).toBeLessThan(1e-6);
    await session.release();
  });
});
