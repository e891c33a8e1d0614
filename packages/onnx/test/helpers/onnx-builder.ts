/**
 * A small ONNX ModelProto encoder for tests: builds models with any
 * operators, initializer names and attributes, so the importer can be
 * checked against onnxruntime-node on graphs PyTorch's golden exports do
 * not cover (tf2onnx-style MatMul + Add, residual blocks, embeddings, ...).
 */

class Writer {
  readonly bytes: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  int(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.bytes.push(...b);
    return this;
  }

  raw(field: number, data: Uint8Array | number[]): this {
    this.tag(field, 2).varint(data.length);
    // One by one: spreading a large message into push() overflows the call stack.
    for (const byte of data) this.bytes.push(byte);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, inner: Writer): this {
    return this.raw(field, inner.bytes);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export const FLOAT = 1;
export const INT64 = 7;
export const DOUBLE = 11;

export interface TensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly values: readonly number[];
  /** ONNX element type (default FLOAT). */
  readonly dataType?: number;
  /** Store in the typed fields (float_data, int64_data) instead of raw_data. */
  readonly typed?: boolean;
  /** Store no values but these `external_data` entries (`location`, `offset`, `length`), with data_location EXTERNAL. */
  readonly external?: readonly (readonly [string, string])[];
}

export type AttributeValue =
  | number
  | readonly number[]
  | string
  | { readonly f: number }
  | { readonly floats: readonly number[] }
  | { readonly tensor: TensorSpec };

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, AttributeValue>>;
}

export interface ValueSpec {
  readonly name: string;
  readonly elemType?: number;
  /** Numbers or symbolic names; undefined for an unknown shape. */
  readonly dims?: readonly (number | string)[];
}

export interface ModelSpec {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly TensorSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly opset?: number;
  readonly irVersion?: number;
}

function tensorProto(t: TensorSpec): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  const type = t.dataType ?? FLOAT;
  w.int(2, type);
  w.string(8, t.name);
  if (t.external !== undefined) {
    for (const [key, value] of t.external) w.message(13, new Writer().string(1, key).string(2, value));
    return w.int(14, 1);
  }
  if (t.typed) {
    const packed = new Writer();
    if (type === FLOAT) {
      for (const v of t.values) {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setFloat32(0, v, true);
        packed.bytes.push(...b);
      }
      w.raw(4, packed.bytes);
    } else if (type === INT64) {
      for (const v of t.values) packed.varint(v);
      w.raw(7, packed.bytes);
    } else if (type === DOUBLE) {
      for (const v of t.values) {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v, true);
        packed.bytes.push(...b);
      }
      w.raw(10, packed.bytes);
    }
    return w;
  }
  const size = type === FLOAT ? 4 : 8;
  const raw = new Uint8Array(t.values.length * size);
  const view = new DataView(raw.buffer);
  t.values.forEach((v, i) => {
    if (type === FLOAT) view.setFloat32(i * size, v, true);
    else if (type === DOUBLE) view.setFloat64(i * size, v, true);
    else view.setBigInt64(i * size, BigInt(v), true);
  });
  w.raw(9, raw);
  return w;
}

function isNumberList(value: AttributeValue): value is readonly number[] {
  return Array.isArray(value);
}

function attributeProto(name: string, value: AttributeValue): Writer {
  const w = new Writer().string(1, name);
  if (typeof value === 'number') w.int(3, value).int(20, 2);
  else if (typeof value === 'string') w.string(4, value).int(20, 3);
  else if (isNumberList(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, 7);
  } else if ('f' in value) w.float(2, value.f).int(20, 1);
  else if ('floats' in value) {
    for (const v of value.floats) w.float(7, v);
    w.int(20, 6);
  } else w.message(5, tensorProto(value.tensor)).int(20, 4);
  return w;
}

function valueInfo(v: ValueSpec): Writer {
  const w = new Writer().string(1, v.name);
  const tensorType = new Writer().int(1, v.elemType ?? FLOAT);
  if (v.dims !== undefined) {
    const shape = new Writer();
    for (const d of v.dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
    tensorType.message(2, shape);
  }
  return w.message(2, new Writer().message(1, tensorType));
}

/** Encodes a model. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const graph = new Writer();
  spec.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const input of n.inputs) node.string(1, input);
    for (const output of n.outputs) node.string(2, output);
    node.string(3, n.name ?? `${n.op}_${i}`);
    node.string(4, n.op);
    if (n.domain !== undefined) node.string(7, n.domain);
    for (const [name, value] of Object.entries(n.attrs ?? {})) node.message(5, attributeProto(name, value));
    graph.message(1, node);
  });
  graph.string(2, 'test-graph');
  for (const t of spec.initializers ?? []) graph.message(5, tensorProto(t));
  for (const v of spec.inputs) graph.message(11, valueInfo(v));
  for (const v of spec.outputs) graph.message(12, valueInfo(v));
  const model = new Writer()
    .int(1, spec.irVersion ?? 8)
    .string(2, 'onnx-builder')
    .string(3, '1')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, spec.opset ?? 13));
  return model.finish();
}

/** Deterministic pseudo-random values in [-1, 1) (a linear congruential generator). */
export function values(count: number, seed: number): number[] {
  let state = seed * 2654435761 + 12345;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.round(((state / 2147483648) * 2 - 1) * 1e6) / 1e6;
  });
}

/** A float initializer of `dims` filled with {@link values}. */
export function init(name: string, dims: readonly number[], seed: number): TensorSpec {
  return { name, dims, values: values(dims.reduce((a, b) => a * b, 1), seed) };
}
