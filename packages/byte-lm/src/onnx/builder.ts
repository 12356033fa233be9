/**
 * GraphBuilder: typed helpers that append ONNX nodes to a graph and infer their output types and
 * shapes (symbolic dimensions included). Op semantics are those of ONNX opset 17 (the default
 * domain) and ONNX Runtime's com.microsoft contrib ops; each helper names the spec's inputs and
 * attributes so a graph reads like the model it implements.
 */

import { ModelError } from '../model-error.js';
import {
  MS_DOMAIN,
  type Attr,
  type DType,
  type Dim,
  type Graph,
  type Initializer,
  type Node,
  type TensorStorage,
  type Value,
} from './ir.js';
import { attr } from './ir.js';

export const ONNX_OPSET = 17;
export const MS_OPSET = 1;

interface OutSpec {
  readonly dtype: DType;
  readonly shape: readonly Dim[] | undefined;
  /** Graph-level output name to give this value directly. */
  readonly name?: string;
  /** An optional output the node should not produce (serialised as an empty name). */
  readonly omit?: boolean;
}

function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Multidirectional (numpy) broadcasting of two shapes, ONNX "Broadcasting in ONNX". */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
    const y = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === 'number' && typeof y === 'number') {
      throw new ModelError('invalid-argument', `cannot broadcast shapes [${a}] and [${b}]`);
    } else out.push(typeof x === 'number' ? x : y);
  }
  return out;
}

/** Product of dims as (numeric factor, symbol list). */
function factor(dims: readonly Dim[]): { num: number; syms: string[] } {
  let num = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') num *= d;
    else if (/^[\w.]+(\*[\w.]+)*$/.test(d)) {
      // A product written by an earlier reshape, e.g. "2*sequence_length".
      for (const f of d.split('*')) {
        if (/^\d+$/.test(f)) num *= Number(f);
        else syms.push(f);
      }
    } else syms.push(d);
  }
  return { num, syms };
}

/** Output shape of Reshape (0 = copy the input dim, -1 = infer), symbolic where needed. */
export function reshapeShape(input: readonly Dim[], target: readonly number[]): Dim[] {
  const out: Dim[] = target.map((d, i) => (d === 0 ? input[i] : d));
  const inferAt = out.indexOf(-1);
  if (inferAt < 0) return out;
  const total = factor(input);
  const known = factor(out.filter((_, i) => i !== inferAt));
  const rest = [...total.syms];
  for (const s of known.syms) {
    const k = rest.indexOf(s);
    if (k < 0) {
      out[inferAt] = `(${total.syms.join('*') || total.num})/(${known.syms.join('*')})`;
      return out;
    }
    rest.splice(k, 1);
  }
  if (total.num % known.num !== 0) {
    throw new ModelError('invalid-argument', `cannot reshape [${input}] to [${target}]`);
  }
  const num = total.num / known.num;
  if (rest.length === 0) out[inferAt] = num;
  else if (num === 1 && rest.length === 1) out[inferAt] = rest[0];
  else out[inferAt] = [...(num === 1 ? [] : [String(num)]), ...rest].join('*');
  return out;
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: Initializer[] = [];
  private readonly inputs: Value[] = [];
  private readonly outputs: Value[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, Value>();
  private readonly opsets = new Map<string, number>([['', ONNX_OPSET]]);
  private readonly metadata: Record<string, string> = {};
  private scopes: string[] = [];
  private counter = 0;

  constructor(readonly graphName: string) {}

  // -- structure ------------------------------------------------------------------------------

  /** Run `fn` with node and value names prefixed by `scope` (readable graphs, like exporters). */
  scope<T>(scope: string, fn: () => T): T {
    this.scopes.push(scope);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private claim(name: string): string {
    if (this.names.has(name))
      throw new ModelError('invalid-argument', `duplicate value name ${name}`);
    this.names.add(name);
    return name;
  }

  private fresh(base: string): string {
    const prefix = this.scopes.length > 0 ? `/${this.scopes.join('/')}/` : '/';
    let name: string;
    do name = `${prefix}${base}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  input(name: string, dtype: DType, shape: readonly Dim[]): Value {
    const v: Value = { name: this.claim(name), dtype, shape };
    this.inputs.push(v);
    return v;
  }

  /** A named initializer (a weight). `data` length must match `dims`. */
  initializer(name: string, dtype: DType, dims: readonly number[], data: TensorStorage): Value {
    if (data.length !== elementCount(dims)) {
      throw new ModelError(
        'invalid-argument',
        `initializer ${name}: ${data.length} values for shape [${dims}]`,
      );
    }
    const v: Value = { name: this.claim(name), dtype, shape: [...dims] };
    this.inits.push({ value: v, dims: [...dims], data });
    return v;
  }

  /** Declare `v` a graph output; if it has another name, an Identity node renames it. */
  output(v: Value, name = v.name): Value {
    const out = v.name === name ? v : this.op('Identity', [v], {}, [{ ...v, name }])[0];
    this.outputs.push(out);
    return out;
  }

  setMetadata(key: string, value: string): void {
    this.metadata[key] = value;
  }

  /** Append a node; returns its outputs. The general form behind every helper below. */
  op(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attrs: Readonly<Record<string, Attr>>,
    outs: readonly OutSpec[],
    domain = '',
  ): Value[] {
    if (domain !== '' && !this.opsets.has(domain)) this.opsets.set(domain, MS_OPSET);
    const nodeName = this.fresh(opType);
    const outputs = outs.map((o, i) => ({
      name: o.omit
        ? ''
        : o.name !== undefined
          ? this.claim(o.name)
          : this.claim(`${nodeName}_output_${i}`),
      dtype: o.dtype,
      shape: o.shape,
    }));
    this.nodes.push({ opType, domain, name: nodeName, inputs, outputs, attrs });
    return outputs;
  }

  build(): Graph {
    return {
      name: this.graphName,
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: [...this.inits],
      nodes: [...this.nodes],
      opsets: new Map(this.opsets),
      metadata: { ...this.metadata },
    };
  }

  // -- constants ------------------------------------------------------------------------------

  /** A constant tensor (stored as an initializer), shared between identical requests. */
  constant(dtype: DType, dims: readonly number[], values: readonly number[]): Value {
    const key = `${dtype}|${dims}|${values}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    let data: TensorStorage;
    switch (dtype) {
      case 'float32':
        data = Float32Array.from(values);
        break;
      case 'float64':
        data = Float64Array.from(values);
        break;
      case 'int64':
        data = BigInt64Array.from(values, (v) => BigInt(v));
        break;
      case 'int32':
        data = Int32Array.from(values);
        break;
      case 'bool':
      case 'uint8':
        data = Uint8Array.from(values);
        break;
      default:
        throw new ModelError('invalid-argument', `constant of type ${dtype} is not supported`);
    }
    const v = this.initializer(this.fresh('const'), dtype, dims, data);
    this.constCache.set(key, v);
    return v;
  }

  int64s(values: readonly number[]): Value {
    return this.constant('int64', [values.length], values);
  }

  scalar(value: number, dtype: DType = 'float32'): Value {
    return this.constant(dtype, [], [value]);
  }

  // -- elementwise ----------------------------------------------------------------------------

  private binary(opType: string, a: Value, b: Value, outType?: DType, name?: string): Value {
    const shape = a.shape && b.shape ? broadcastShapes(a.shape, b.shape) : undefined;
    return this.op(opType, [a, b], {}, [{ dtype: outType ?? a.dtype, shape, name }])[0];
  }

  add(a: Value, b: Value, name?: string): Value {
    return this.binary('Add', a, b, undefined, name);
  }
  sub(a: Value, b: Value): Value {
    return this.binary('Sub', a, b);
  }
  mul(a: Value, b: Value, name?: string): Value {
    return this.binary('Mul', a, b, undefined, name);
  }
  div(a: Value, b: Value): Value {
    return this.binary('Div', a, b);
  }
  pow(a: Value, b: Value): Value {
    return this.binary('Pow', a, b);
  }
  equal(a: Value, b: Value): Value {
    return this.binary('Equal', a, b, 'bool');
  }
  less(a: Value, b: Value): Value {
    return this.binary('Less', a, b, 'bool');
  }
  lessOrEqual(a: Value, b: Value): Value {
    return this.binary('LessOrEqual', a, b, 'bool');
  }
  and(a: Value, b: Value): Value {
    return this.binary('And', a, b, 'bool');
  }

  /** Where(condition, x, y): x where condition holds, else y (broadcast over all three). */
  where(cond: Value, x: Value, y: Value): Value {
    const shape =
      cond.shape && x.shape && y.shape
        ? broadcastShapes(broadcastShapes(cond.shape, x.shape), y.shape)
        : undefined;
    return this.op('Where', [cond, x, y], {}, [{ dtype: x.dtype, shape }])[0];
  }

  private unary(opType: string, x: Value, attrs: Record<string, Attr> = {}, name?: string): Value {
    return this.op(opType, [x], attrs, [{ dtype: x.dtype, shape: x.shape, name }])[0];
  }

  neg(x: Value): Value {
    return this.unary('Neg', x);
  }
  sqrt(x: Value): Value {
    return this.unary('Sqrt', x);
  }
  reciprocal(x: Value): Value {
    return this.unary('Reciprocal', x);
  }
  sigmoid(x: Value): Value {
    return this.unary('Sigmoid', x);
  }
  exp(x: Value): Value {
    return this.unary('Exp', x);
  }
  identity(x: Value, name?: string): Value {
    return this.unary('Identity', x, {}, name);
  }
  /** Softmax over one axis (opset 13 semantics: that axis only). */
  softmax(x: Value, axis: number): Value {
    return this.unary('Softmax', x, { axis: attr.int(axis) });
  }

  cast(x: Value, to: DType): Value {
    return this.op('Cast', [x], { to: attr.int(onnxDataType(to)) }, [
      { dtype: to, shape: x.shape },
    ])[0];
  }

  // -- linear algebra and shape ops -----------------------------------------------------------

  /** numpy.matmul semantics (ONNX MatMul): [..., M, K] x [..., K, N] -> [..., M, N]. */
  matmul(a: Value, b: Value, name?: string): Value {
    let shape: Dim[] | undefined;
    if (a.shape && b.shape) {
      if (a.shape.length < 2 || b.shape.length < 2) {
        throw new ModelError('invalid-argument', 'matmul helper needs operands of rank >= 2');
      }
      const ka = a.shape[a.shape.length - 1];
      const kb = b.shape[b.shape.length - 2];
      if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
        throw new ModelError('invalid-argument', `matmul: inner dims ${ka} and ${kb} differ`);
      }
      const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
      shape = [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]];
    }
    return this.op('MatMul', [a, b], {}, [{ dtype: a.dtype, shape, name }])[0];
  }

  /** Gather along `axis` (embedding lookup when axis = 0). */
  gather(data: Value, indices: Value, axis = 0): Value {
    let shape: Dim[] | undefined;
    if (data.shape && indices.shape) {
      const ax = axis < 0 ? axis + data.shape.length : axis;
      shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
    }
    return this.op('Gather', [data, indices], { axis: attr.int(axis) }, [
      { dtype: data.dtype, shape },
    ])[0];
  }

  reshape(x: Value, dims: readonly number[]): Value {
    const shape = x.shape ? reshapeShape(x.shape, dims) : undefined;
    return this.op('Reshape', [x, this.int64s(dims)], {}, [{ dtype: x.dtype, shape }])[0];
  }

  transpose(x: Value, perm: readonly number[]): Value {
    const shape = x.shape ? perm.map((p) => x.shape![p]) : undefined;
    return this.op('Transpose', [x], { perm: attr.ints(perm) }, [{ dtype: x.dtype, shape }])[0];
  }

  concat(xs: readonly Value[], axis: number, name?: string): Value {
    let shape: Dim[] | undefined;
    if (xs.every((x) => x.shape)) {
      const first = xs[0].shape!;
      const ax = axis < 0 ? axis + first.length : axis;
      const parts = xs.map((x) => x.shape![ax]);
      const nums = parts.filter((p): p is number => typeof p === 'number');
      const syms = parts.filter((p): p is string => typeof p !== 'number');
      const sum = nums.reduce((a, b) => a + b, 0);
      const dim: Dim = syms.length === 0 ? sum : [...syms, ...(sum ? [String(sum)] : [])].join('+');
      shape = first.map((d, i) => (i === ax ? dim : d));
    }
    return this.op('Concat', xs, { axis: attr.int(axis) }, [
      { dtype: xs[0].dtype, shape, name },
    ])[0];
  }

  /** Split along `axis` into pieces of the given sizes (opset 13: sizes as an input). */
  split(x: Value, axis: number, sizes: readonly number[]): Value[] {
    const rank = x.shape?.length;
    const ax = axis < 0 && rank !== undefined ? axis + rank : axis;
    const outs = sizes.map((s) => ({
      dtype: x.dtype,
      shape: x.shape ? x.shape.map((d, i) => (i === ax ? s : d)) : undefined,
    }));
    return this.op('Split', [x, this.int64s(sizes)], { axis: attr.int(axis) }, outs);
  }

  /** Slice with constant starts/ends/axes (steps 1). Output dims along sliced axes are symbolic
   * unless the input dim and the bounds are all known. */
  slice(
    x: Value,
    starts: readonly number[],
    ends: readonly number[],
    axes: readonly number[],
  ): Value {
    let shape: Dim[] | undefined;
    if (x.shape) {
      shape = [...x.shape];
      axes.forEach((a, k) => {
        const ax = a < 0 ? a + x.shape!.length : a;
        const d = x.shape![ax];
        if (typeof d === 'number') {
          const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
          shape![ax] = Math.max(0, clamp(ends[k]) - clamp(starts[k]));
        } else if (starts[k] === -1 && ends[k] >= 2 ** 31 - 1) {
          shape![ax] = 1;
        } else {
          shape![ax] = `slice(${d},${starts[k]},${ends[k]})`;
        }
      });
    }
    return this.op('Slice', [x, this.int64s(starts), this.int64s(ends), this.int64s(axes)], {}, [
      { dtype: x.dtype, shape },
    ])[0];
  }

  /** Tile(x, repeats) with constant repeats. */
  tile(x: Value, repeats: readonly number[]): Value {
    const shape = x.shape
      ? x.shape.map((d, i) =>
          repeats[i] === 1 ? d : typeof d === 'number' ? d * repeats[i] : `${repeats[i]}*${d}`,
        )
      : undefined;
    return this.op('Tile', [x, this.int64s(repeats)], {}, [{ dtype: x.dtype, shape }])[0];
  }

  /** Split along `axis` with sizes computed in the graph (1-D int64 `sizes`); `dims` are the
   * pieces' symbolic sizes. */
  splitDynamic(x: Value, axis: number, sizes: Value, dims: readonly Dim[]): Value[] {
    const rank = x.shape?.length;
    const ax = axis < 0 && rank !== undefined ? axis + rank : axis;
    const outs = dims.map((d) => ({
      dtype: x.dtype,
      shape: x.shape ? x.shape.map((e, i) => (i === ax ? d : e)) : undefined,
    }));
    return this.op('Split', [x, sizes], { axis: attr.int(axis) }, outs);
  }

  /** Slice with bounds computed in the graph (1-D int64 tensors); `dims` gives the result's
   * sliced dims for shape tracking. */
  sliceDynamic(
    x: Value,
    starts: Value,
    ends: Value,
    axes: readonly number[],
    dims: readonly Dim[],
  ): Value {
    let shape: Dim[] | undefined;
    if (x.shape) {
      shape = [...x.shape];
      axes.forEach((a, k) => (shape![a < 0 ? a + x.shape!.length : a] = dims[k]));
    }
    return this.op('Slice', [x, starts, ends, this.int64s(axes)], {}, [
      { dtype: x.dtype, shape },
    ])[0];
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    let shape: Dim[] | undefined;
    if (x.shape) {
      const rank = x.shape.length + axes.length;
      const norm = axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
      shape = [];
      let j = 0;
      for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]);
    }
    return this.op('Unsqueeze', [x, this.int64s(axes)], {}, [{ dtype: x.dtype, shape }])[0];
  }

  /** ReduceMean over `axes` (opset 17: axes is an attribute). */
  reduceMean(x: Value, axes: readonly number[], keepdims = true): Value {
    let shape: Dim[] | undefined;
    if (x.shape) {
      const norm = axes.map((a) => (a < 0 ? a + x.shape!.length : a));
      shape = keepdims
        ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d))
        : x.shape.filter((_, i) => !norm.includes(i));
    }
    return this.op(
      'ReduceMean',
      [x],
      { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) },
      [{ dtype: x.dtype, shape }],
    )[0];
  }

  /** Shape of `x` as int64, dims [start, end) (opset 15 attributes). */
  shapeOf(x: Value, start?: number, end?: number): Value {
    const attrs: Record<string, Attr> = {};
    if (start !== undefined) attrs.start = attr.int(start);
    if (end !== undefined) attrs.end = attr.int(end);
    let n: number | undefined;
    if (x.shape) {
      const r = x.shape.length;
      const s = start === undefined ? 0 : start < 0 ? start + r : start;
      const e = end === undefined ? r : end < 0 ? end + r : end;
      n = Math.max(0, e - s);
    }
    return this.op('Shape', [x], attrs, [
      { dtype: 'int64', shape: n === undefined ? undefined : [n] },
    ])[0];
  }

  /** Range(start, limit, delta) of scalars; `length` is the symbolic output length. */
  range(start: Value, limit: Value, delta: Value, length: Dim): Value {
    return this.op('Range', [start, limit, delta], {}, [
      { dtype: start.dtype, shape: [length] },
    ])[0];
  }

  // -- ONNX Runtime contrib ops (com.microsoft) -----------------------------------------------

  /** RMSNorm: x / sqrt(mean(x^2) + eps) * scale (ORT SimplifiedLayerNormalization, last axis). */
  simplifiedLayerNorm(x: Value, scale: Value, epsilon: number): Value {
    return this.op(
      'SimplifiedLayerNormalization',
      [x, scale],
      { axis: attr.int(-1), epsilon: attr.float(epsilon), stash_type: attr.int(1) },
      [{ dtype: x.dtype, shape: x.shape }],
    )[0];
  }

  /**
   * ORT SkipSimplifiedLayerNormalization: s = x + skip; returns [RMSNorm(s) * scale, s].
   */
  skipSimplifiedLayerNorm(x: Value, skip: Value, scale: Value, epsilon: number): [Value, Value] {
    const outs = this.op(
      'SkipSimplifiedLayerNormalization',
      [x, skip, scale],
      { epsilon: attr.float(epsilon) },
      [
        { dtype: x.dtype, shape: x.shape },
        { dtype: 'float32', shape: undefined, omit: true },
        { dtype: 'float32', shape: undefined, omit: true },
        { dtype: x.dtype, shape: x.shape },
      ],
      MS_DOMAIN,
    );
    return [outs[0], outs[3]];
  }

  /** ORT FusedMatMul: alpha * op(a) x op(b), op = transpose of the last two dims when set. */
  fusedMatMul(a: Value, b: Value, opts: { alpha?: number; transB?: boolean }): Value {
    let shape: Dim[] | undefined;
    if (a.shape && b.shape) {
      const bs = opts.transB
        ? [...b.shape.slice(0, -2), b.shape[b.shape.length - 1], b.shape[b.shape.length - 2]]
        : b.shape;
      shape = [
        ...broadcastShapes(a.shape.slice(0, -2), bs.slice(0, -2)),
        a.shape[a.shape.length - 2],
        bs[bs.length - 1],
      ];
    }
    return this.op(
      'FusedMatMul',
      [a, b],
      {
        alpha: attr.float(opts.alpha ?? 1),
        transA: attr.int(0),
        transB: attr.int(opts.transB ? 1 : 0),
      },
      [{ dtype: a.dtype, shape }],
      MS_DOMAIN,
    )[0];
  }

  /** ORT RotaryEmbedding on [batch, seq, heads*headDim] with explicit position ids (HF layout when
   * interleaved = 0). cos/sin caches are [maxPositions, headDim/2]. */
  rotaryEmbedding(x: Value, positionIds: Value, cosCache: Value, sinCache: Value): Value {
    return this.op(
      'RotaryEmbedding',
      [x, positionIds, cosCache, sinCache],
      { interleaved: attr.int(0) },
      [{ dtype: x.dtype, shape: x.shape }],
      MS_DOMAIN,
    )[0];
  }
}

/** TensorProto.DataType codes (onnx.proto). */
export function onnxDataType(t: DType): number {
  switch (t) {
    case 'float32':
      return 1;
    case 'uint8':
      return 2;
    case 'int8':
      return 3;
    case 'int32':
      return 6;
    case 'int64':
      return 7;
    case 'bool':
      return 9;
    case 'float16':
      return 10;
    case 'float64':
      return 11;
  }
}
