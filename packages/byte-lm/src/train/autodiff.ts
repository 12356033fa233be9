/**
 * Reverse-mode automatic differentiation over the graph IR (onnx/ir.ts): given a built graph, a
 * scalar loss value in it and the values to differentiate with respect to, append the nodes that
 * compute d loss / d value to the same builder. Every gradient is itself a plain ONNX opset-17
 * subgraph, so ONNX Runtime (which has no training API in its Node binding) runs forward and
 * backward as one inference graph.
 *
 * The method is the textbook one (Griewank & Walther, "Evaluating Derivatives", 2nd ed., ch. 3;
 * the vector-Jacobian products are those of JAX's and PyTorch's derivative tables):
 *
 * 1. Mark the values that depend on any `wrt` value (a forward sweep over the topologically
 *    ordered nodes); only float values carry gradients.
 * 2. Walk the nodes backwards. A node whose outputs received gradient contributions sums them
 *    (a value read by several nodes gets one contribution per reader) and applies its op's
 *    vector-Jacobian rule, which emits nodes computing the contribution to each marked input.
 *
 * Broadcasting (ONNX "Broadcasting in ONNX", numpy rules): an elementwise input that was
 * broadcast gets its gradient summed over the broadcast axes (ReduceSum), decided from the
 * shapes the builder recorded: an input dim of 1 against a larger output dim, or a missing
 * leading dim, is a broadcast axis. A symbolic input dim is taken to equal the output dim; the
 * one case this misreads, a symbolic dim that is 1 at run time broadcast against another symbol,
 * does not occur in graphs built by this package's builders.
 */

import { GraphBuilder, onnxDataType } from '../onnx/builder.js';
import {
  attr,
  type Attr,
  type DType,
  type Dim,
  type Graph,
  type Node,
  type Value,
} from '../onnx/ir.js';
import { ModelError } from '../model-error.js';

const FLOAT_TYPES: ReadonlySet<DType> = new Set<DType>(['float32', 'float64', 'float16']);
const isFloat = (v: Value): boolean => FLOAT_TYPES.has(v.dtype);

/** Ops whose float outputs do not depend differentiably on any input (indices, shapes, masks). */
const NON_DIFFERENTIABLE: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'Range',
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'And',
  'Or',
  'Not',
  'ArgMax',
  'ArgMin',
]);

/** What a rule sees: the builder, the forward graph's constants, and shape helpers. */
export class GradContext {
  private readonly ints = new Map<string, number[]>();
  private readonly floats = new Map<string, number>();

  constructor(
    readonly g: GraphBuilder,
    graph: Graph,
  ) {
    for (const init of graph.initializers) {
      if (init.value.dtype === 'int64') {
        this.ints.set(
          init.value.name,
          Array.from(init.data as BigInt64Array, (x) => Number(x)),
        );
      } else if (init.value.dtype === 'int32') {
        this.ints.set(init.value.name, Array.from(init.data as Int32Array));
      }
    }
    for (const init of graph.initializers) {
      if (init.value.dtype === 'float32' || init.value.dtype === 'float64') {
        if (init.data.length === 1) this.floats.set(init.value.name, Number(init.data[0]));
      }
    }
  }

  /** The values of a constant integer tensor (an initializer), or undefined. */
  constInts(v: Value | undefined): number[] | undefined {
    return v === undefined ? undefined : this.ints.get(v.name);
  }

  /** The value of a constant one-element float tensor, or undefined. */
  constScalar(v: Value | undefined): number | undefined {
    return v === undefined ? undefined : this.floats.get(v.name);
  }

  scalar(value: number, like: Value): Value {
    return this.g.scalar(value, like.dtype);
  }

  /** An ONNX node with one output of the given type and shape. */
  emit(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attrs: Readonly<Record<string, Attr>>,
    dtype: DType,
    shape: readonly Dim[] | undefined,
  ): Value {
    return this.g.op(opType, inputs, attrs, [{ dtype, shape }])[0];
  }

  /** Shape of `v` as an int64 tensor: a constant when every dim is known, else Shape(v). */
  shapeTensor(v: Value): Value {
    const s = v.shape;
    if (s && s.every((d) => typeof d === 'number')) return this.g.int64s(s as number[]);
    return this.g.shapeOf(v);
  }

  /** Zeros with the shape and type of `v`. */
  zerosLike(v: Value): Value {
    return this.emit('Expand', [this.scalar(0, v), this.shapeTensor(v)], {}, v.dtype, v.shape);
  }

  /** `x` reshaped to the shape of `like` (same element count). */
  reshapeLike(x: Value, like: Value): Value {
    return this.emit('Reshape', [x, this.shapeTensor(like)], {}, x.dtype, like.shape);
  }

  reduceSum(x: Value, axes: readonly number[], keepdims: boolean): Value {
    let shape: Dim[] | undefined;
    if (x.shape) {
      const r = x.shape.length;
      const norm = axes.map((a) => (a < 0 ? a + r : a));
      shape = keepdims
        ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !norm.includes(i));
    }
    return this.emit(
      'ReduceSum',
      [x, this.g.int64s(axes)],
      { keepdims: attr.int(keepdims ? 1 : 0) },
      x.dtype,
      shape,
    );
  }

  /**
   * The gradient `grad` (shaped like a broadcast result of shape `full`) summed back to the shape
   * of the input `target`.
   */
  unbroadcast(grad: Value, target: Value, full: readonly Dim[] | undefined): Value {
    const t = target.shape;
    if (!t || !full) {
      throw new ModelError('unsupported', `gradient: shape of ${target.name} is unknown`);
    }
    const lead = full.length - t.length;
    if (lead < 0) {
      throw new ModelError('invalid-argument', `gradient: ${target.name} has a higher rank`);
    }
    let out = grad;
    if (lead > 0) {
      out = this.reduceSum(
        out,
        Array.from({ length: lead }, (_, i) => i),
        false,
      );
    }
    const axes: number[] = [];
    t.forEach((d, i) => {
      if (d === 1 && full[lead + i] !== 1) axes.push(i);
    });
    if (axes.length > 0) out = this.reduceSum(out, axes, true);
    return out;
  }

  /** Swap the last two axes. */
  transposeLast2(x: Value): Value {
    const r = x.shape?.length;
    if (r === undefined || r < 2) {
      throw new ModelError('unsupported', `gradient: MatMul operand ${x.name} of unknown rank`);
    }
    const perm = Array.from({ length: r }, (_, i) => i);
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return this.g.transpose(x, perm);
  }
}

/**
 * A vector-Jacobian product: from the gradients of a node's outputs (undefined where an output
 * received none) to the gradients of the inputs marked in `wants` (undefined elsewhere).
 */
export type GradientRule = (
  c: GradContext,
  node: Node,
  gy: readonly (Value | undefined)[],
  wants: readonly boolean[],
) => (Value | undefined)[];

const intAttr = (n: Node, key: string, fallback: number): number => {
  const a = n.attrs[key];
  return a?.kind === 'int' ? a.value : fallback;
};
const intsAttr = (n: Node, key: string): readonly number[] | undefined => {
  const a = n.attrs[key];
  return a?.kind === 'ints' ? a.value : undefined;
};

function unsupported(node: Node, why: string): never {
  throw new ModelError('unsupported', `no gradient for ${node.opType} (${node.name}): ${why}`);
}

/** Requires the first output's gradient (single-output ops). */
function only(gy: readonly (Value | undefined)[]): Value {
  return gy[0]!;
}

const elementwiseUnary = (
  f: (c: GradContext, x: Value, y: Value, gy: Value) => Value,
): GradientRule => {
  return (c, node, gy) => [f(c, node.inputs[0]!, node.outputs[0], only(gy))];
};

/** Reduction over `axes` (undefined = all) of x into y: the gradient broadcast back to x. */
function expandReduced(
  c: GradContext,
  x: Value,
  gy: Value,
  axes: readonly number[] | undefined,
  keepdims: boolean,
): Value {
  const rank = x.shape?.length;
  if (rank === undefined)
    throw new ModelError('unsupported', 'gradient: reduction of unknown rank');
  const norm = (axes ?? Array.from({ length: rank }, (_, i) => i)).map((a) =>
    a < 0 ? a + rank : a,
  );
  const kept = keepdims
    ? gy
    : c.g.unsqueeze(
        gy,
        [...norm].sort((a, b) => a - b),
      );
  return c.emit('Expand', [kept, c.shapeTensor(x)], {}, gy.dtype, x.shape);
}

/** Number of elements of x per element of y, as a float scalar of x's type. */
function reductionCount(c: GradContext, x: Value, y: Value): Value {
  const xs = x.shape;
  const ys = y.shape;
  if (xs?.every((d) => typeof d === 'number') && ys?.every((d) => typeof d === 'number')) {
    const n = (xs as number[]).reduce((a, b) => a * b, 1);
    const m = (ys as number[]).reduce((a, b) => a * b, 1);
    return c.scalar(n / m, x);
  }
  const size = (v: Value): Value => c.emit('Size', [v], {}, 'int64', []);
  const ratio = c.emit('Div', [size(x), size(y)], {}, 'int64', []);
  return c.emit('Cast', [ratio], { to: attr.int(onnxDataType(x.dtype)) }, x.dtype, []);
}

export const GRADIENT_RULES: Readonly<Record<string, GradientRule>> = {
  Identity: (_c, _n, gy) => [only(gy)],

  Add: (c, n, gy, w) => {
    const g = only(gy);
    const full = n.outputs[0].shape;
    return [
      w[0] ? c.unbroadcast(g, n.inputs[0]!, full) : undefined,
      w[1] ? c.unbroadcast(g, n.inputs[1]!, full) : undefined,
    ];
  },

  Sub: (c, n, gy, w) => {
    const g = only(gy);
    const full = n.outputs[0].shape;
    return [
      w[0] ? c.unbroadcast(g, n.inputs[0]!, full) : undefined,
      w[1] ? c.unbroadcast(c.g.neg(g), n.inputs[1]!, full) : undefined,
    ];
  },

  Mul: (c, n, gy, w) => {
    const g = only(gy);
    const [a, b] = [n.inputs[0]!, n.inputs[1]!];
    const full = n.outputs[0].shape;
    return [
      w[0] ? c.unbroadcast(c.g.mul(g, b), a, full) : undefined,
      w[1] ? c.unbroadcast(c.g.mul(g, a), b, full) : undefined,
    ];
  },

  // y = a / b: dy/da = 1/b, dy/db = -a/b^2 = -y/b.
  Div: (c, n, gy, w) => {
    const g = only(gy);
    const [a, b] = [n.inputs[0]!, n.inputs[1]!];
    const y = n.outputs[0];
    const full = y.shape;
    return [
      w[0] ? c.unbroadcast(c.g.div(g, b), a, full) : undefined,
      w[1] ? c.unbroadcast(c.g.neg(c.g.div(c.g.mul(g, y), b)), b, full) : undefined,
    ];
  },

  // y = a^b: dy/da = b a^(b-1), dy/db = y ln a.
  Pow: (c, n, gy, w) => {
    const g = only(gy);
    const [a, b] = [n.inputs[0]!, n.inputs[1]!];
    const y = n.outputs[0];
    const full = y.shape;
    let ga: Value | undefined;
    if (w[0]) {
      const k = c.constScalar(b);
      let local: Value | undefined;
      if (k === 2) local = c.g.mul(a, c.scalar(2, a));
      else if (k === 1) local = undefined;
      else if (k !== undefined) local = c.g.mul(c.g.pow(a, c.scalar(k - 1, a)), c.scalar(k, a));
      else local = c.g.mul(c.g.pow(a, c.g.sub(b, c.scalar(1, b))), b);
      ga = c.unbroadcast(local ? c.g.mul(g, local) : g, a, full);
    }
    const gb = w[1]
      ? c.unbroadcast(c.g.mul(g, c.g.mul(y, c.emit('Log', [a], {}, a.dtype, a.shape))), b, full)
      : undefined;
    return [ga, gb];
  },

  Neg: elementwiseUnary((c, _x, _y, g) => c.g.neg(g)),
  // y = sqrt(x): dy/dx = 1 / (2y).
  Sqrt: elementwiseUnary((c, _x, y, g) => c.g.div(c.g.mul(g, c.scalar(0.5, g)), y)),
  // y = 1/x: dy/dx = -y^2.
  Reciprocal: elementwiseUnary((c, _x, y, g) => c.g.neg(c.g.mul(g, c.g.mul(y, y)))),
  Exp: elementwiseUnary((c, _x, y, g) => c.g.mul(g, y)),
  Log: elementwiseUnary((c, x, _y, g) => c.g.div(g, x)),
  // y = tanh x: dy/dx = 1 - y^2.
  Tanh: elementwiseUnary((c, _x, y, g) => c.g.mul(g, c.g.sub(c.scalar(1, y), c.g.mul(y, y)))),
  // y = sigmoid x: dy/dx = y (1 - y).
  Sigmoid: elementwiseUnary((c, _x, y, g) => c.g.mul(g, c.g.mul(y, c.g.sub(c.scalar(1, y), y)))),
  Relu: elementwiseUnary((c, x, _y, g) =>
    c.g.where(c.emit('Greater', [x, c.scalar(0, x)], {}, 'bool', x.shape), g, c.scalar(0, g)),
  ),

  // Softmax along one axis (opset 13): dx = y * (dy - sum(dy * y)).
  Softmax: (c, n, gy) => {
    const g = only(gy);
    const y = n.outputs[0];
    const axis = intAttr(n, 'axis', -1);
    const dot = c.reduceSum(c.g.mul(g, y), [axis], true);
    return [c.g.mul(y, c.g.sub(g, dot))];
  },

  // y = x - logsumexp(x): dx = dy - softmax(x) * sum(dy) = dy - exp(y) * sum(dy).
  LogSoftmax: (c, n, gy) => {
    const g = only(gy);
    const y = n.outputs[0];
    const axis = intAttr(n, 'axis', -1);
    return [c.g.sub(g, c.g.mul(c.g.exp(y), c.reduceSum(g, [axis], true)))];
  },

  Cast: (c, n, gy, w) => {
    const x = n.inputs[0]!;
    return [w[0] && isFloat(x) ? c.g.cast(only(gy), x.dtype) : undefined];
  },

  /**
   * numpy matmul, operands of rank >= 2: da = dy b^T, db = a^T dy, each summed over batch axes
   * it was broadcast along. The common [..., K] x [K, N] case (a linear layer) folds the batch
   * axes into the rows instead, one [K, rows] x [rows, N] product.
   */
  MatMul: (c, n, gy, w) => {
    const g = only(gy);
    const [a, b] = [n.inputs[0]!, n.inputs[1]!];
    const as = a.shape;
    const bs = b.shape;
    const ys = n.outputs[0].shape;
    if (!as || !bs || !ys || as.length < 2 || bs.length < 2) {
      unsupported(n, 'operands must have known rank >= 2');
    }
    const ybatch = ys.slice(0, -2);
    let ga: Value | undefined;
    if (w[0]) {
      const full = [...ybatch, as[as.length - 2], as[as.length - 1]];
      ga = c.unbroadcast(c.g.matmul(g, c.transposeLast2(b)), a, full);
    }
    let gb: Value | undefined;
    if (w[1]) {
      const K = bs[bs.length - 2];
      const N = bs[bs.length - 1];
      if (bs.length === 2 && as.length > 2 && typeof K === 'number' && typeof N === 'number') {
        const a2 = c.g.reshape(a, [-1, K]);
        const g2 = c.g.reshape(g, [-1, N]);
        gb = c.g.matmul(c.g.transpose(a2, [1, 0]), g2);
      } else {
        gb = c.unbroadcast(c.g.matmul(c.transposeLast2(a), g), b, [...ybatch, K, N]);
      }
    }
    return [ga, gb];
  },

  /** Gather along axis 0 (an embedding lookup): rows scatter-added back (ScatterND, add). */
  Gather: (c, n, gy, w) => {
    if (!w[0]) return [undefined, undefined];
    if (intAttr(n, 'axis', 0) !== 0) unsupported(n, 'only axis 0 is supported');
    const data = n.inputs[0]!;
    let idx = n.inputs[1]!;
    if (idx.dtype !== 'int64') idx = c.g.cast(idx, 'int64');
    const g = only(gy);
    const grad = c.emit(
      'ScatterND',
      [c.zerosLike(data), c.g.unsqueeze(idx, [-1]), g],
      { reduction: attr.string('add') },
      data.dtype,
      data.shape,
    );
    return [grad, undefined];
  },

  GatherElements: (c, n, gy, w) => {
    if (!w[0]) return [undefined, undefined];
    const data = n.inputs[0]!;
    const grad = c.emit(
      'ScatterElements',
      [c.zerosLike(data), n.inputs[1]!, only(gy)],
      { axis: attr.int(intAttr(n, 'axis', 0)), reduction: attr.string('add') },
      data.dtype,
      data.shape,
    );
    return [grad, undefined];
  },

  Reshape: (c, n, gy) => [c.reshapeLike(only(gy), n.inputs[0]!), undefined],
  Unsqueeze: (c, n, gy) => [c.reshapeLike(only(gy), n.inputs[0]!), undefined],
  Squeeze: (c, n, gy) => [c.reshapeLike(only(gy), n.inputs[0]!), undefined],
  Flatten: (c, n, gy) => [c.reshapeLike(only(gy), n.inputs[0]!)],

  Transpose: (c, n, gy) => {
    const rank = n.inputs[0]!.shape?.length;
    const perm =
      intsAttr(n, 'perm') ??
      (rank === undefined ? unsupported(n, 'unknown rank') : [...Array(rank).keys()].reverse());
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [c.g.transpose(only(gy), inverse)];
  },

  /**
   * Tile: y viewed as [r0, d0, r1, d1, ...] (repeat k of every axis is a block), so the gradient
   * of x is the sum over the repeat axes. Needs x's dims and the repeats to be known.
   */
  Tile: (c, n, gy, w) => {
    if (!w[0]) return [undefined, undefined];
    const x = n.inputs[0]!;
    const repeats = c.constInts(n.inputs[1]);
    const dims = x.shape;
    if (!repeats || !dims || !dims.every((d) => typeof d === 'number')) {
      unsupported(n, 'repeats and the input shape must be known');
    }
    const split = dims.flatMap((d, i) => [repeats[i], d as number]);
    const blocks = c.g.reshape(only(gy), split);
    const axes = dims.map((_, i) => 2 * i);
    return [c.reshapeLike(c.reduceSum(blocks, axes, false), x), undefined];
  },

  Expand: (c, n, gy, w) => [
    w[0] ? c.unbroadcast(only(gy), n.inputs[0]!, n.outputs[0].shape) : undefined,
    undefined,
  ],

  Where: (c, n, gy, w) => {
    const g = only(gy);
    const [cond, x, y] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]!];
    const full = n.outputs[0].shape;
    const zero = c.scalar(0, g);
    return [
      undefined,
      w[1] ? c.unbroadcast(c.g.where(cond, g, zero), x, full) : undefined,
      w[2] ? c.unbroadcast(c.g.where(cond, zero, g), y, full) : undefined,
    ];
  },

  /** Concat: each input gets its slice of the gradient (Split when the sizes are known). */
  Concat: (c, n, gy, w) => {
    const g = only(gy);
    const xs = n.inputs.map((v) => v!);
    const rank = xs[0].shape?.length;
    if (rank === undefined) unsupported(n, 'unknown rank');
    const raw = intAttr(n, 'axis', 0);
    const axis = raw < 0 ? raw + rank : raw;
    const sizes = xs.map((x) => x.shape![axis]);
    if (sizes.every((s) => typeof s === 'number')) {
      const parts = c.g.split(g, axis, sizes as number[]);
      return parts.map((p, i) => (w[i] ? p : undefined));
    }
    // Symbolic sizes: slice at run-time offsets.
    const out: (Value | undefined)[] = [];
    let start: Value = c.g.int64s([0]);
    for (let i = 0; i < xs.length; i++) {
      const size = c.emit(
        'Gather',
        [c.g.shapeOf(xs[i]), c.g.int64s([axis])],
        { axis: attr.int(0) },
        'int64',
        [1],
      );
      const end = c.emit('Add', [start, size], {}, 'int64', [1]);
      out.push(
        w[i]
          ? c.emit('Slice', [g, start, end, c.g.int64s([axis])], {}, g.dtype, xs[i].shape)
          : undefined,
      );
      start = end;
    }
    return out;
  },

  /** Split: the output gradients concatenated back (zeros for outputs that received none). */
  Split: (c, n, gy) => {
    const parts = n.outputs.map((o, i) => gy[i] ?? c.zerosLike(o));
    return [c.g.concat(parts, intAttr(n, 'axis', 0)), undefined];
  },

  /** Slice with unit steps: the gradient zero-padded back to the input's extent. */
  Slice: (c, n, gy) => {
    const x = n.inputs[0]!;
    const rank = x.shape?.length;
    if (rank === undefined) unsupported(n, 'unknown rank');
    const starts = c.constInts(n.inputs[1]);
    const ends = c.constInts(n.inputs[2]);
    const axes = n.inputs[3] ? c.constInts(n.inputs[3]) : [...Array(starts?.length ?? 0).keys()];
    const steps = n.inputs[4] ? c.constInts(n.inputs[4]) : undefined;
    if (!starts || !ends || !axes) unsupported(n, 'starts, ends and axes must be constants');
    if (steps && steps.some((s) => s !== 1)) unsupported(n, 'only unit steps are supported');
    const before: Value[] = [];
    const after: Value[] = [];
    const zero = c.g.int64s([0]);
    for (let ax = 0; ax < rank; ax++) {
      const k = axes.findIndex((a) => (a < 0 ? a + rank : a) === ax);
      if (k < 0) {
        before.push(zero);
        after.push(zero);
        continue;
      }
      const d = x.shape![ax];
      if (typeof d === 'number') {
        const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
        const b = clamp(starts[k]);
        const e = Math.max(clamp(ends[k]), b);
        before.push(c.g.int64s([b]));
        after.push(c.g.int64s([d - e]));
        continue;
      }
      const dim = c.emit(
        'Gather',
        [c.g.shapeOf(x), c.g.int64s([ax])],
        { axis: attr.int(0) },
        'int64',
        [1],
      );
      const clamp = (v: number): Value => {
        const raw =
          v < 0 ? c.emit('Add', [dim, c.g.int64s([v])], {}, 'int64', [1]) : c.g.int64s([v]);
        const lo = c.emit('Max', [raw, zero], {}, 'int64', [1]);
        return c.emit('Min', [lo, dim], {}, 'int64', [1]);
      };
      const b = clamp(starts[k]);
      const e = c.emit('Max', [clamp(ends[k]), b], {}, 'int64', [1]);
      before.push(b);
      after.push(c.emit('Sub', [dim, e], {}, 'int64', [1]));
    }
    const pads = c.emit('Concat', [...before, ...after], { axis: attr.int(0) }, 'int64', [
      2 * rank,
    ]);
    const g = only(gy);
    return [
      c.emit('Pad', [g, pads, c.scalar(0, g)], { mode: attr.string('constant') }, g.dtype, x.shape),
    ];
  },

  ReduceMean: (c, n, gy) => {
    const x = n.inputs[0]!;
    const expanded = expandReduced(
      c,
      x,
      only(gy),
      intsAttr(n, 'axes'),
      intAttr(n, 'keepdims', 1) === 1,
    );
    return [c.g.div(expanded, reductionCount(c, x, n.outputs[0]))];
  },

  ReduceSum: (c, n, gy) => {
    const x = n.inputs[0]!;
    const axes = n.inputs[1] ? c.constInts(n.inputs[1]) : undefined;
    if (n.inputs[1] && !axes) unsupported(n, 'axes must be a constant');
    if (axes?.length === 0 && intAttr(n, 'noop_with_empty_axes', 0) === 1) return [only(gy)];
    return [
      expandReduced(
        c,
        x,
        only(gy),
        axes?.length ? axes : undefined,
        intAttr(n, 'keepdims', 1) === 1,
      ),
      undefined,
    ];
  },

  // y = sum x^2: dx = 2 x dy.
  ReduceSumSquare: (c, n, gy) => {
    const x = n.inputs[0]!;
    const e = expandReduced(c, x, only(gy), intsAttr(n, 'axes'), intAttr(n, 'keepdims', 1) === 1);
    return [c.g.mul(e, c.g.mul(x, c.scalar(2, x)))];
  },
};

export interface BackwardOptions {
  /** Gradient of the final output with respect to `loss` (default: the constant 1). */
  readonly seed?: Value;
  /** Extra or replacement rules, keyed by op type (tests use this to check a rule in isolation). */
  readonly rules?: Readonly<Record<string, GradientRule>>;
}

/**
 * Append the gradient of `loss` with respect to each `wrt` value to `g`, which must hold every
 * node of `graph` (a snapshot of the same builder: `g.build()`). Returns the gradient values by
 * name of the value differentiated; a `wrt` value the loss does not depend on gets zeros.
 */
export function backward(
  g: GraphBuilder,
  graph: Graph,
  loss: Value,
  wrt: readonly Value[],
  options: BackwardOptions = {},
): Map<string, Value> {
  const rules = { ...GRADIENT_RULES, ...options.rules };
  const c = new GradContext(g, graph);
  for (const v of wrt) {
    if (!isFloat(v)) throw new ModelError('invalid-argument', `cannot differentiate ${v.name}`);
  }
  if (!options.seed && loss.shape?.length !== 0) {
    throw new ModelError('invalid-argument', `loss ${loss.name} must be a scalar`);
  }

  // 1. Values that depend on a wrt value.
  const live = new Set(wrt.map((v) => v.name));
  for (const node of graph.nodes) {
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    if (node.inputs.some((v) => v !== undefined && live.has(v.name))) {
      for (const o of node.outputs) if (isFloat(o)) live.add(o.name);
    }
  }

  // 2. Reverse sweep, summing contributions per value.
  const contributions = new Map<string, Value[]>();
  const settled = new Map<string, Value>();
  const total = (name: string): Value | undefined => {
    const done = settled.get(name);
    if (done) return done;
    const parts = contributions.get(name);
    if (!parts) return undefined;
    let sum = parts[0];
    for (let i = 1; i < parts.length; i++) sum = g.add(sum, parts[i]);
    settled.set(name, sum);
    return sum;
  };
  const contribute = (name: string, grad: Value): void => {
    if (settled.has(name)) {
      throw new ModelError('invalid-argument', `graph is not topologically ordered at ${name}`);
    }
    const list = contributions.get(name);
    if (list) list.push(grad);
    else contributions.set(name, [grad]);
  };

  if (live.has(loss.name)) {
    contribute(loss.name, options.seed ?? g.scalar(1, loss.dtype));
    g.scope('grad', () => {
      for (let i = graph.nodes.length - 1; i >= 0; i--) {
        const node = graph.nodes[i];
        if (NON_DIFFERENTIABLE.has(node.opType)) continue;
        const gy = node.outputs.map((o) => (live.has(o.name) ? total(o.name) : undefined));
        if (gy.every((v) => v === undefined)) continue;
        const wants = node.inputs.map((v) => v !== undefined && live.has(v.name) && isFloat(v));
        if (!wants.some(Boolean)) continue;
        const key = node.domain === '' ? node.opType : `${node.domain}.${node.opType}`;
        const rule = rules[key];
        if (!rule) unsupported(node, 'no rule for this op');
        const gx = rule(c, node, gy, wants);
        node.inputs.forEach((v, k) => {
          if (v !== undefined && wants[k] && gx[k] !== undefined) contribute(v.name, gx[k]);
        });
      }
    });
  }

  const out = new Map<string, Value>();
  for (const v of wrt) out.set(v.name, total(v.name) ?? c.zerosLike(v));
  return out;
}
