/**
 * Graph (ir.ts) -> ONNX ModelProto bytes (onnx.proto, IR version 8), with onnx-proto's protobufjs
 * classes. Initializer data goes in `raw_data`, little-endian as the spec requires.
 */

import onnxProto from 'onnx-proto';
import { ModelError } from '../model-error.js';
import { onnxDataType } from './builder.js';
import type { Attr, Dim, Graph, TensorStorage, Value } from './ir.js';

const { onnx } = onnxProto;

export const ONNX_IR_VERSION = 8;
/** protobuf messages cannot exceed 2 GiB; larger models would need external data files. */
const MAX_PROTO_BYTES = 2 ** 31 - 1;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('byte-lm assumes a little-endian host (ONNX raw_data is little-endian)');
}

function dimProto(d: Dim): onnxProto.onnx.TensorShapeProto.IDimension {
  return typeof d === 'number' ? { dimValue: d } : { dimParam: d };
}

function valueInfo(v: Value): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: onnxDataType(v.dtype),
        ...(v.shape ? { shape: { dim: v.shape.map(dimProto) } } : {}),
      },
    },
  };
}

function rawBytes(data: TensorStorage): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function attrProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

/** Encode a graph as an ONNX model file. */
export function serializeGraph(graph: Graph, producer = 'jpeglm byte-lm'): Uint8Array {
  let bytes = 0;
  for (const init of graph.initializers) bytes += init.data.byteLength;
  if (bytes > MAX_PROTO_BYTES) {
    throw new ModelError(
      'too-large',
      `the model's ${bytes} bytes of weights exceed the 2 GiB limit of one ONNX protobuf`,
    );
  }
  const model: onnxProto.onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    producerName: producer,
    opsetImport: [...graph.opsets].map(([domain, version]) => ({ domain, version })),
    metadataProps: Object.entries(graph.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.map((init) => ({
        name: init.value.name,
        dataType: onnxDataType(init.value.dtype),
        dims: [...init.dims],
        rawData: rawBytes(init.data),
      })),
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: n.inputs.map((v) => (v === undefined ? '' : v.name)),
        output: n.outputs.map((v) => v.name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
      })),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}
