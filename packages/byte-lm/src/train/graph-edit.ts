/**
 * Editing finished graphs: reopen a built Graph in a fresh GraphBuilder (so a pass can append
 * nodes to the very graph the architecture builder made), and promote a float32 graph to float64
 * (so gradient checks against finite differences are not drowned in float32 rounding).
 */

import { GraphBuilder } from '../onnx/builder.js';
import { attr, type Graph, type Node, type TensorStorage, type Value } from '../onnx/ir.js';
import { ModelError } from '../model-error.js';

/** A builder that already holds every input, initializer and node of `graph` (not its outputs). */
export interface ReopenedGraph {
  readonly g: GraphBuilder;
  /** The value of that name in the reopened graph. */
  value(name: string): Value;
}

/**
 * Copy `graph` into a new builder: same value names, same node order. Graph outputs are not
 * declared, so the caller picks what the new graph returns.
 */
export function reopenGraph(graph: Graph, name = graph.name): ReopenedGraph {
  const g = new GraphBuilder(name);
  const values = new Map<string, Value>();
  for (const v of graph.inputs) values.set(v.name, g.input(v.name, v.dtype, v.shape ?? []));
  for (const init of graph.initializers) {
    values.set(
      init.value.name,
      g.initializer(init.value.name, init.value.dtype, init.dims, init.data),
    );
  }
  for (const [key, text] of Object.entries(graph.metadata)) g.setMetadata(key, text);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((v) => (v === undefined ? undefined : lookup(values, v.name)));
    const outs = g.op(
      node.opType,
      inputs,
      node.attrs,
      node.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape, name: o.name })),
      node.domain,
    );
    outs.forEach((o) => values.set(o.name, o));
  }
  return { g, value: (n) => lookup(values, n) };
}

function lookup(values: ReadonlyMap<string, Value>, name: string): Value {
  const v = values.get(name);
  if (!v) throw new ModelError('invalid-argument', `graph has no value named ${name}`);
  return v;
}

/** TensorProto.DataType codes of float and double (onnx.proto). */
const ONNX_FLOAT = 1;
const ONNX_DOUBLE = 11;

/**
 * The same computation in float64: every float32 value, initializer and Cast target becomes
 * float64. Initializer values are widened exactly, so the promoted graph computes the same
 * function of its inputs, only with less rounding.
 */
export function promoteToFloat64(graph: Graph): Graph {
  const cache = new Map<string, Value>();
  const conv = (v: Value): Value => {
    let out = cache.get(v.name);
    if (!out) {
      out = v.dtype === 'float32' ? { ...v, dtype: 'float64' } : v;
      cache.set(v.name, out);
    }
    return out;
  };
  const nodes: Node[] = graph.nodes.map((n) => {
    const attrs = { ...n.attrs };
    const to = n.attrs.to;
    if (n.opType === 'Cast' && to?.kind === 'int' && to.value === ONNX_FLOAT) {
      attrs.to = attr.int(ONNX_DOUBLE);
    }
    if (n.domain !== '') {
      throw new ModelError('unsupported', `cannot promote contrib op ${n.opType} to float64`);
    }
    return {
      ...n,
      attrs,
      inputs: n.inputs.map((v) => (v === undefined ? undefined : conv(v))),
      outputs: n.outputs.map(conv),
    };
  });
  return {
    ...graph,
    inputs: graph.inputs.map(conv),
    outputs: graph.outputs.map(conv),
    initializers: graph.initializers.map((init) => ({
      value: conv(init.value),
      dims: init.dims,
      data:
        init.value.dtype === 'float32'
          ? Float64Array.from(init.data as Float32Array)
          : (init.data as TensorStorage),
    })),
    nodes,
  };
}
