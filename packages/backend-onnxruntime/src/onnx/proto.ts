/**
 * A minimal protobuf encoder for the part of ONNX's `ModelProto` this backend
 * writes: one graph of a few nodes, typed inputs and outputs with symbolic
 * dimensions, attributes, and small initializers. (`onnx-proto` would pull in
 * a second protobufjs of 22 MB for the same bytes.)
 *
 * Field numbers are those of onnx/onnx.proto3.
 */

/** ONNX `TensorProto.DataType` values used here. */
export const OnnxType = { float32: 1, uint8: 2, bool: 9, int32: 6, int64: 7, float64: 11 } as const;
export type OnnxTypeName = keyof typeof OnnxType;

/** An attribute value: numbers are INT, `{ float }` FLOAT, arrays of numbers INTS, strings STRING. */
export type AttributeValue = number | { readonly float: number } | readonly number[] | string;

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  /** Operator domain; `''` (the default) is ai.onnx, `'com.microsoft'` the contrib ops. */
  readonly domain?: string;
}

/** A graph input or output: its element type and one entry per dimension (a number, or a symbol). */
export interface ValueSpec {
  readonly name: string;
  readonly type: OnnxTypeName;
  readonly dims: readonly (number | string)[];
}

/** A small constant baked into the model (axes, shapes, scalars such as 0 or 1). */
export interface InitializerSpec {
  readonly name: string;
  readonly type: 'int64' | 'int32' | 'float32' | 'float64';
  readonly dims: readonly number[];
  readonly values: readonly number[];
}

export interface GraphSpec {
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly InitializerSpec[];
  /** ai.onnx opset version (default {@link DEFAULT_OPSET}). */
  readonly opset?: number;
}

export const DEFAULT_OPSET = 18;
/** IR version 8 goes with opsets up to 18. */
const IR_VERSION = 8;

/** Wire types. */
const VARINT = 0;
const FIXED32 = 5;
const LENGTH_DELIMITED = 2;

const textEncoder = new TextEncoder();

/** Appends protobuf fields to a growing byte list. */
class Writer {
  private bytes: number[] = [];

  private varint(value: number): void {
    // Negative int64 values use ten bytes of two's complement; BigInt keeps it exact.
    if (value < 0) {
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        this.bytes.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      this.bytes.push(Number(v));
      return;
    }
    while (value >= 0x80) {
      this.bytes.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.bytes.push(value);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number): this {
    if (!Number.isSafeInteger(value)) throw new RangeError(`protobuf: ${value} is not an integer`);
    this.tag(field, VARINT);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const buffer = new DataView(new ArrayBuffer(4));
    buffer.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.bytes.push(buffer.getUint8(i));
    return this;
  }

  bytesField(field: number, value: Uint8Array | readonly number[]): this {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(value.length);
    for (let i = 0; i < value.length; i++) this.bytes.push(value[i]!);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytesField(field, textEncoder.encode(value));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytesField(field, inner.bytes);
  }

  /** A packed repeated varint field. */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new Writer();
    for (const v of values) {
      if (!Number.isSafeInteger(v)) throw new RangeError(`protobuf: ${v} is not an integer`);
      inner.varint(v);
    }
    return this.bytesField(field, inner.bytes);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** AttributeProto.AttributeType */
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_STRING = 3;
const ATTRIBUTE_INTS = 7;

function writeAttribute(w: Writer, name: string, value: AttributeValue): void {
  w.string(1, name);
  if (typeof value === 'number') w.int(3, value).int(20, ATTRIBUTE_INT);
  else if (typeof value === 'string') w.string(4, value).int(20, ATTRIBUTE_STRING);
  else if (Array.isArray(value)) w.packedInts(8, value as readonly number[]).int(20, ATTRIBUTE_INTS);
  else w.float(2, (value as { float: number }).float).int(20, ATTRIBUTE_FLOAT);
}

function writeNode(w: Writer, node: NodeSpec, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `n${index}`);
  w.string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) w.message(5, (a) => writeAttribute(a, name, value));
  if (node.domain !== undefined && node.domain !== '') w.string(7, node.domain);
}

function writeValueInfo(w: Writer, value: ValueSpec): void {
  w.string(1, value.name);
  // TypeProto { tensor_type: { elem_type, shape: { dim: [...] } } }
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, OnnxType[value.type]);
      tensor.message(2, (shape) => {
        for (const dim of value.dims) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

/** Little-endian bytes of `values` as `type` (TensorProto.raw_data). */
function rawData(type: InitializerSpec['type'], values: readonly number[]): Uint8Array {
  const size = type === 'int64' || type === 'float64' ? 8 : 4;
  const view = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    if (type === 'int64') view.setBigInt64(i * 8, BigInt(v), true);
    else if (type === 'int32') view.setInt32(i * 4, v, true);
    else if (type === 'float32') view.setFloat32(i * 4, v, true);
    else view.setFloat64(i * 8, v, true);
  });
  return new Uint8Array(view.buffer);
}

function writeInitializer(w: Writer, init: InitializerSpec): void {
  for (const dim of init.dims) w.int(1, dim);
  w.int(2, OnnxType[init.type]);
  w.string(8, init.name);
  w.bytesField(9, rawData(init.type, init.values));
}

/** Serialises a one-graph ONNX model. */
export function encodeModel(graph: GraphSpec): Uint8Array {
  const usesContrib = graph.nodes.some((n) => n.domain === 'com.microsoft');
  const w = new Writer();
  w.int(1, IR_VERSION);
  w.string(2, 'backpack-ts');
  w.message(7, (g) => {
    graph.nodes.forEach((node, i) => g.message(1, (n) => writeNode(n, node, i)));
    g.string(2, 'kernel');
    for (const init of graph.initializers ?? []) g.message(5, (t) => writeInitializer(t, init));
    for (const input of graph.inputs) g.message(11, (v) => writeValueInfo(v, input));
    for (const output of graph.outputs) g.message(12, (v) => writeValueInfo(v, output));
  });
  w.message(8, (o) => o.string(1, '').int(2, graph.opset ?? DEFAULT_OPSET));
  if (usesContrib) w.message(8, (o) => o.string(1, 'com.microsoft').int(2, 1));
  return w.finish();
}
