/**
 * A small typed intermediate representation of an ONNX graph: values with element types and
 * (possibly symbolic) shapes, nodes in topological order, initializers with their data. It is a
 * plain data structure on purpose, so a later pass (reverse-mode differentiation for training)
 * can walk the nodes, look at each op's inputs, attributes and shapes, and emit new nodes with the
 * same builder. Serialisation to an ONNX ModelProto lives in serialize.ts.
 */

/** ONNX element types used here (TensorProto.DataType names in lower case). */
export type DType =
  'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** A dimension: a number, or a symbol (graph inputs' dim_param, or a derived expression). */
export type Dim = number | string;

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  /** Shape if known (always known for values made by the builder's op helpers). */
  readonly shape: readonly Dim[] | undefined;
}

export type Attr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

export interface Node {
  readonly opType: string;
  /** '' = the default ONNX domain; 'com.microsoft' for ORT contrib ops. */
  readonly domain: string;
  readonly name: string;
  /** Inputs in order; `undefined` marks an omitted optional input. */
  readonly inputs: readonly (Value | undefined)[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

/** Backing storage of a tensor's elements; float16 is stored as its IEEE bit patterns. */
export type TensorStorage =
  Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface Initializer {
  readonly value: Value;
  readonly dims: readonly number[];
  readonly data: TensorStorage;
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly initializers: readonly Initializer[];
  readonly nodes: readonly Node[];
  /** Opset version per domain. */
  readonly opsets: ReadonlyMap<string, number>;
  /** Key/value strings stored in ModelProto.metadata_props. */
  readonly metadata: Readonly<Record<string, string>>;
}

export const MS_DOMAIN = 'com.microsoft';

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};
