/**
 * `@backpack-ts/backend-onnxruntime/proto`: the ONNX `ModelProto` writer of
 * backpack-ts, for a model of one graph: nodes with attributes (in any
 * domain), typed inputs and outputs with fixed, symbolic or unknown
 * dimensions, and initializers in `raw_data` or the typed data fields. The
 * backend writes its kernels' graphs with it, and the onnx package's tests
 * their models. (`onnx-proto` would pull in a second protobufjs of 22 MB for
 * the same bytes.)
 *
 * Field numbers are those of onnx/onnx.proto3. Repeated numbers are written
 * as ONNX's own writer does: data fields packed, attribute `ints` and
 * `floats` one field per value.
 *
 * @module \@backpack-ts/backend-onnxruntime/proto
 */
import { WireWriter } from './wire-writer.js';

/** ONNX `TensorProto.DataType` codes of the element types written by name. */
export const OnnxType = {
  /** FLOAT. */
  float32: 1,
  /** UINT8. */
  uint8: 2,
  /** INT32. */
  int32: 6,
  /** INT64. */
  int64: 7,
  /** BOOL. */
  bool: 9,
  /** DOUBLE. */
  float64: 11,
} as const;
/** The element types {@link OnnxType} names. */
export type OnnxTypeName = keyof typeof OnnxType;
/** An element type: a name of {@link OnnxType}, or any `TensorProto.DataType` code. */
export type ElementType = OnnxTypeName | number;

/** A tensor constant: an initializer, or the value of a tensor attribute. */
export interface TensorSpec {
  /** The initializer's name, as nodes refer to it. */
  readonly name: string;
  /** Element type. */
  readonly type: ElementType;
  /** Shape. */
  readonly dims: readonly number[];
  /** The elements, row-major. */
  readonly values: readonly number[];
  /**
   * Where the values go: `'raw'` (default), little-endian bytes in
   * `raw_data`; `'typed'`, the type's own field (`float_data`, `int32_data`,
   * `int64_data` or `double_data`).
   */
  readonly storage?: 'raw' | 'typed';
  /**
   * Store no values but these `external_data` entries (`location`, `offset`,
   * `length`, ...), with `data_location` EXTERNAL: the values live in a file
   * next to the model.
   */
  readonly external?: readonly (readonly [string, string])[];
}

/**
 * An attribute value: a number is INT, an array of numbers INTS, a string
 * STRING; `{ float }` FLOAT, `{ floats }` FLOATS, `{ strings }` STRINGS,
 * `{ tensor }` TENSOR.
 */
export type AttributeValue =
  | number
  | readonly number[]
  | string
  | {
      /** A FLOAT attribute (a plain number is INT). */
      readonly float: number;
    }
  | {
      /** A FLOATS attribute (a plain array is INTS). */
      readonly floats: readonly number[];
    }
  | {
      /** A STRINGS attribute (a plain string is STRING). */
      readonly strings: readonly string[];
    }
  | {
      /** A TENSOR attribute. */
      readonly tensor: TensorSpec;
    };

/** A graph node: operator, input and output names, attributes. */
export interface NodeSpec {
  /** Operator type (`'MatMul'`). */
  readonly op: string;
  /** Names of the values it reads; `''` for an omitted optional input. */
  readonly inputs: readonly string[];
  /** Names of the values it writes. */
  readonly outputs: readonly string[];
  /** Default: `<op>_<index>`. */
  readonly name?: string;
  /** Operator domain; `''` (the default) is ai.onnx, `'com.microsoft'` ORT's contrib ops. */
  readonly domain?: string;
  /** Attributes by name. */
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A graph input or output. */
export interface ValueSpec {
  /** The value's name. */
  readonly name: string;
  /** Element type. */
  readonly type: ElementType;
  /** One entry per dimension, a size or a symbol; omitted when the shape is unknown. */
  readonly dims?: readonly (number | string)[];
}

/** A model of one graph. */
export interface GraphSpec {
  /** The nodes, written in this order (ONNX wants a topological one). */
  readonly nodes: readonly NodeSpec[];
  /** The graph's inputs (not the initializers). */
  readonly inputs: readonly ValueSpec[];
  /** The graph's outputs. */
  readonly outputs: readonly ValueSpec[];
  /** Constant tensors (weights). */
  readonly initializers?: readonly TensorSpec[];
  /** ai.onnx opset version (default {@link DEFAULT_OPSET}); other domains the nodes use are imported at version 1. */
  readonly opset?: number;
  /** Default {@link DEFAULT_IR_VERSION}. */
  readonly irVersion?: number;
  /** Default `'graph'`. */
  readonly graphName?: string;
  /** `producer_name` and `producer_version`; default `backpack-ts`, no version. */
  readonly producer?: {
    /** `producer_name`. */
    readonly name: string;
    /** `producer_version` (default none). */
    readonly version?: string;
  };
}

/** The ai.onnx opset version written when the spec gives none. */
export const DEFAULT_OPSET = 18;
/** IR version 8 goes with opsets up to 18. */
export const DEFAULT_IR_VERSION = 8;

/** AttributeProto.AttributeType */
const ATTRIBUTE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

function typeCode(type: ElementType): number {
  return typeof type === 'number' ? type : OnnxType[type];
}

/** How values of each element type are stored: bytes per raw value, typed field and its encoding. */
const ENCODINGS: ReadonlyMap<number, { readonly width: 1 | 4 | 8; readonly field: number; readonly packed: 'varint' | 4 | 8 }> = new Map([
  [OnnxType.float32, { width: 4, field: 4, packed: 4 }],
  [OnnxType.uint8, { width: 1, field: 5, packed: 'varint' }],
  [OnnxType.int32, { width: 4, field: 5, packed: 'varint' }],
  [OnnxType.int64, { width: 8, field: 7, packed: 'varint' }],
  [OnnxType.bool, { width: 1, field: 5, packed: 'varint' }],
  [OnnxType.float64, { width: 8, field: 10, packed: 8 }],
]);

/** Little-endian bytes of `values` as element type `code` (TensorProto.raw_data). */
function rawData(code: number, width: 1 | 4 | 8, values: readonly number[]): Uint8Array {
  const view = new DataView(new ArrayBuffer(values.length * width));
  values.forEach((v, i) => {
    if (code === OnnxType.float32) view.setFloat32(i * 4, v, true);
    else if (code === OnnxType.float64) view.setFloat64(i * 8, v, true);
    else if (code === OnnxType.int64) view.setBigInt64(i * 8, BigInt(v), true);
    else if (code === OnnxType.int32) view.setInt32(i * 4, v, true);
    else view.setUint8(i, v);
  });
  return new Uint8Array(view.buffer);
}

/** `TensorProto.DataLocation.EXTERNAL`. */
const DATA_LOCATION_EXTERNAL = 1;

function writeTensor(w: WireWriter, tensor: TensorSpec): void {
  const code = typeCode(tensor.type);
  const encoding = ENCODINGS.get(code);
  if (encoding === undefined) throw new RangeError(`ONNX writer: no encoding for the values of tensor '${tensor.name}' (element type ${code})`);
  for (const dim of tensor.dims) w.int(1, dim);
  w.int(2, code);
  w.string(8, tensor.name);
  if (tensor.external !== undefined) {
    for (const [key, value] of tensor.external) w.message(13, (entry) => entry.string(1, key).string(2, value));
    w.int(14, DATA_LOCATION_EXTERNAL);
  } else if (tensor.storage !== 'typed') w.bytesField(9, rawData(code, encoding.width, tensor.values));
  else if (encoding.packed === 'varint') w.packedInts(encoding.field, tensor.values);
  else w.packedFloats(encoding.field, tensor.values, encoding.packed);
}

/** `Array.isArray` does not narrow a union with a readonly array. */
function isNumberList(value: AttributeValue): value is readonly number[] {
  return Array.isArray(value);
}

function writeAttribute(w: WireWriter, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (typeof value === 'number') w.int(3, value).int(20, ATTRIBUTE.int);
  else if (typeof value === 'string') w.string(4, value).int(20, ATTRIBUTE.string);
  else if (isNumberList(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, ATTRIBUTE.ints);
  } else if ('float' in value) w.float(2, value.float).int(20, ATTRIBUTE.float);
  else if ('floats' in value) {
    for (const v of value.floats) w.float(7, v);
    w.int(20, ATTRIBUTE.floats);
  } else if ('strings' in value) {
    for (const v of value.strings) w.string(9, v);
    w.int(20, ATTRIBUTE.strings);
  } else w.message(5, (t) => writeTensor(t, value.tensor)).int(20, ATTRIBUTE.tensor);
}

function writeNode(w: WireWriter, node: NodeSpec, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name ?? `${node.op}_${index}`);
  w.string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) w.message(5, (a) => writeAttribute(a, name, value));
  if (node.domain !== undefined && node.domain !== '') w.string(7, node.domain);
}

function writeValueInfo(w: WireWriter, value: ValueSpec): void {
  w.string(1, value.name);
  // TypeProto { tensor_type: { elem_type, shape: { dim: [...] } } }
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, typeCode(value.type));
      if (value.dims === undefined) return;
      tensor.message(2, (shape) => {
        for (const dim of value.dims!) shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
      });
    }),
  );
}

/** Serialises a model of one graph. */
export function encodeModel(graph: GraphSpec): Uint8Array {
  const domains = new Set(graph.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''));
  const w = new WireWriter();
  w.int(1, graph.irVersion ?? DEFAULT_IR_VERSION);
  w.string(2, graph.producer?.name ?? 'backpack-ts');
  if (graph.producer?.version !== undefined) w.string(3, graph.producer.version);
  w.message(7, (g) => {
    graph.nodes.forEach((node, i) => g.message(1, (n) => writeNode(n, node, i)));
    g.string(2, graph.graphName ?? 'graph');
    for (const init of graph.initializers ?? []) g.message(5, (t) => writeTensor(t, init));
    for (const input of graph.inputs) g.message(11, (v) => writeValueInfo(v, input));
    for (const output of graph.outputs) g.message(12, (v) => writeValueInfo(v, output));
  });
  w.message(8, (o) => o.string(1, '').int(2, graph.opset ?? DEFAULT_OPSET));
  for (const domain of domains) w.message(8, (o) => o.string(1, domain).int(2, 1));
  return w.finish();
}
