/**
 * Decodes ONNX's `ModelProto` (onnx.proto, IR version 3 and later) from its
 * protobuf encoding into plain objects: the parts an importer needs (graph,
 * nodes, attributes, initializers, value infos, opsets). Unknown fields are
 * skipped, as protobuf requires.
 */
import { OnnxFormatError, ProtoReader, WireType } from './wire.js';

/** `TensorProto.DataType`. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

const dataTypeNames: ReadonlyMap<number, string> = new Map(Object.entries(DataType).map(([name, value]) => [value, name.toLowerCase()]));

/** `float`, `int64`, ... or `type <n>` for codes this decoder does not name. */
export function dataTypeName(code: number): string {
  return dataTypeNames.get(code) ?? `type ${code}`;
}

/** A tensor constant (an initializer, or a tensor attribute's value), as decoded. */
export interface TensorProto {
  /** `name`: how nodes refer to it. */
  name: string;
  /** `dims`: the shape. */
  dims: number[];
  /** `data_type`: a `TensorProto.DataType` code ({@link dataTypeName} names it). */
  dataType: number;
  /** Little-endian element bytes, when stored that way (the usual case). */
  rawData?: Uint8Array;
  /** `float_data` (float32 and complex64 elements). */
  floatData: number[];
  /** `int32_data` (int32, int16, int8, uint16, uint8, bool and float16 bits). */
  int32Data: number[];
  /** `int64_data`. */
  int64Data: number[];
  /** `double_data` (float64 and complex128 elements). */
  doubleData: number[];
  /** `uint64_data` (uint32 and uint64 elements). */
  uint64Data: number[];
  /**
   * `data_location == EXTERNAL`: the data lives in another file, described by
   * these `external_data` entries (`location`, `offset`, `length`, ...). A
   * `Map`, so keys such as `__proto__` are plain entries.
   */
  external?: ReadonlyMap<string, string>;
}

/** `AttributeProto.AttributeType`. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
}

/** A graph node, as decoded. */
export interface NodeProto {
  /** `name` (optional in ONNX: may be `''`). */
  name: string;
  /** `op_type`: the operator (`'Gemm'`). */
  opType: string;
  /** `domain`: `''` for ai.onnx. */
  domain: string;
  /** `input`: names of the values it reads (`''` for an omitted optional input). */
  input: string[];
  /** `output`: names of the values it writes. */
  output: string[];
  /** `attribute`: its attributes. */
  attribute: AttributeProto[];
}

/** A dimension: a number, a symbolic name (`"batch"`), or unknown. */
export type DimProto = { value: number } | { param: string } | Record<string, never>;

export interface ValueInfoProto {
  name: string;
  /** Element type of a tensor type (0 when the value is not a tensor or has no type). */
  elemType: number;
  /** Undefined when the shape is unknown (not even the rank). */
  shape?: DimProto[];
}

/** The model's graph, as decoded. */
export interface GraphProto {
  /** `name`. */
  name: string;
  /** `node`: the nodes, in the file's order. */
  node: NodeProto[];
  /** `initializer`: the constant tensors (weights). */
  initializer: TensorProto[];
  /** How many `sparse_initializer` entries there are (not decoded; the importer refuses them). */
  sparseInitializerCount: number;
  /** `input`: the graph's inputs (in older exports, initializers too). */
  input: ValueInfoProto[];
  /** `output`: the graph's outputs. */
  output: ValueInfoProto[];
  /** `value_info`: types and shapes of intermediate values, where the exporter wrote them. */
  valueInfo: ValueInfoProto[];
}

export interface OperatorSetId {
  domain: string;
  version: number;
}

/** A decoded ONNX model (`decodeModel`): the fields of `ModelProto` an importer reads. */
export interface ModelProto {
  /** `ir_version`. */
  irVersion: number;
  /** `producer_name` (`'pytorch'`, `'tf2onnx'`). */
  producerName: string;
  /** `producer_version`. */
  producerVersion: string;
  /** `domain` of the model. */
  domain: string;
  /** `model_version`. */
  modelVersion: number;
  /** `opset_import`: the operator set version of each domain. */
  opsetImport: OperatorSetId[];
  /** `graph`; absent in a file without one. */
  graph?: GraphProto;
  /** Number of model-local functions (not supported by the importer, but reported). */
  functionCount: number;
}

const int64 = ProtoReader.prototype.int64;
const uint64 = ProtoReader.prototype.varint;
const int32 = ProtoReader.prototype.int32;
const float = ProtoReader.prototype.fixed32Float;
const double = ProtoReader.prototype.fixed64Double;

/** Reads one field (number `field`, wire type `wire`) of a message into `into`. */
type FieldReader<T> = (r: ProtoReader, wire: number, into: T, field: number) => void;

/** The readers of a message's fields, by field number (as in onnx.proto). */
type FieldReaders<T> = Readonly<Record<number, FieldReader<T>>>;

/** Reads every field of the message into `into`; unknown fields are skipped, as protobuf requires. */
function decodeFields<T>(r: ProtoReader, into: T, readers: FieldReaders<T>): T {
  while (!r.done) {
    const { field, wire } = r.key();
    const read = readers[field];
    if (read === undefined) r.skip(wire, field);
    else read(r, wire, into, field);
  }
  return into;
}

/** A field of wire type `wire` (checked, naming the field `name`): `read` its value, then `store` it. */
function scalar<T, V>(wire: WireType, name: string, read: (r: ProtoReader) => V, store: (into: T, value: V) => void): FieldReader<T> {
  return (r, actual, into) => {
    r.expect(actual, wire, name);
    store(into, read(r));
  };
}

/** A string field. */
function text<T>(name: string, store: (into: T, value: string) => void): FieldReader<T> {
  return scalar(WireType.LengthDelimited, name, (r) => r.string(name), store);
}

/** A bytes field (a view, not a copy). */
function bytes<T>(name: string, store: (into: T, value: Uint8Array) => void): FieldReader<T> {
  return scalar(WireType.LengthDelimited, name, (r) => r.bytesField(name), store);
}

/** An embedded message field of type `type`, decoded with `decode`. */
function message<T, V>(name: string, type: string, decode: (r: ProtoReader) => V, store: (into: T, value: V) => void): FieldReader<T> {
  return scalar(WireType.LengthDelimited, name, (r) => decode(r.message(type)), store);
}

/** A repeated numeric field, packed or not, appended to the array `list` selects. */
function numbers<T>(wire: WireType, name: string, read: (this: ProtoReader) => number, list: (into: T) => number[]): FieldReader<T> {
  return (r, actual, into) => r.repeated(actual, wire, read, list(into), name);
}

/** A field the importer does not read but reports: skipped and counted. */
function counted<T>(count: (into: T) => void): FieldReader<T> {
  return (r, wire, into, field) => {
    r.skip(wire, field);
    count(into);
  };
}

function decodeStringEntry(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.LengthDelimited) key = r.string('key');
    else if (field === 2 && wire === WireType.LengthDelimited) value = r.string('value');
    else r.skip(wire, field);
  }
  return [key, value];
}

/** A tensor being decoded, with where its data lives until the end decides whether it is external. */
interface TensorDecoding {
  readonly t: TensorProto;
  location: number;
  readonly external: Map<string, string>;
}

const tensorFields: FieldReaders<TensorDecoding> = {
  1: numbers(WireType.Varint, 'dims', int64, (d) => d.t.dims),
  2: scalar(WireType.Varint, 'data_type', (r) => r.int32(), (d, v) => (d.t.dataType = v)),
  4: numbers(WireType.Fixed32, 'float_data', float, (d) => d.t.floatData),
  5: numbers(WireType.Varint, 'int32_data', int32, (d) => d.t.int32Data),
  7: numbers(WireType.Varint, 'int64_data', int64, (d) => d.t.int64Data),
  8: text('name', (d, v) => (d.t.name = v)),
  9: bytes('raw_data', (d, v) => (d.t.rawData = v)),
  10: numbers(WireType.Fixed64, 'double_data', double, (d) => d.t.doubleData),
  11: numbers(WireType.Varint, 'uint64_data', uint64, (d) => d.t.uint64Data),
  13: message('external_data', 'StringStringEntryProto', decodeStringEntry, (d, [key, value]) => d.external.set(key, value)),
  14: scalar(WireType.Varint, 'data_location', (r) => r.int32(), (d, v) => (d.location = v)),
};

export function decodeTensor(r: ProtoReader): TensorProto {
  const t: TensorProto = { name: '', dims: [], dataType: 0, floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [] };
  const decoded = decodeFields<TensorDecoding>(r, { t, location: 0, external: new Map() }, tensorFields);
  if (decoded.location === 1) t.external = decoded.external;
  return t;
}

const attributeFields: FieldReaders<AttributeProto> = {
  1: text('name', (a, v) => (a.name = v)),
  2: scalar(WireType.Fixed32, 'f', (r) => r.fixed32Float(), (a, v) => (a.f = v)),
  3: scalar(WireType.Varint, 'i', (r) => r.int64(), (a, v) => (a.i = v)),
  4: bytes('s', (a, v) => (a.s = v)),
  5: message('t', 'TensorProto', decodeTensor, (a, v) => (a.t = v)),
  6: message('g', 'GraphProto', decodeGraph, (a, v) => (a.g = v)),
  7: numbers(WireType.Fixed32, 'floats', float, (a) => a.floats),
  8: numbers(WireType.Varint, 'ints', int64, (a) => a.ints),
  9: bytes('strings', (a, v) => a.strings.push(v)),
  10: message('tensors', 'TensorProto', decodeTensor, (a, v) => a.tensors.push(v)),
  11: message('graphs', 'GraphProto', decodeGraph, (a, v) => a.graphs.push(v)),
  20: scalar(WireType.Varint, 'type', (r) => r.int32(), (a, v) => (a.type = v)),
};

function decodeAttribute(r: ProtoReader): AttributeProto {
  return decodeFields(r, { name: '', type: 0, floats: [], ints: [], strings: [], tensors: [], graphs: [] }, attributeFields);
}

const nodeFields: FieldReaders<NodeProto> = {
  1: text('input', (n, v) => n.input.push(v)),
  2: text('output', (n, v) => n.output.push(v)),
  3: text('name', (n, v) => (n.name = v)),
  4: text('op_type', (n, v) => (n.opType = v)),
  5: message('attribute', 'AttributeProto', decodeAttribute, (n, v) => n.attribute.push(v)),
  7: text('domain', (n, v) => (n.domain = v)),
};

function decodeNode(r: ProtoReader): NodeProto {
  return decodeFields(r, { name: '', opType: '', domain: '', input: [], output: [], attribute: [] }, nodeFields);
}

function decodeDimension(r: ProtoReader): DimProto {
  let dim: DimProto = {};
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.Varint) dim = { value: r.int64() };
    else if (field === 2 && wire === WireType.LengthDelimited) dim = { param: r.string('dim_param') };
    else r.skip(wire, field);
  }
  return dim;
}

function decodeShape(r: ProtoReader): DimProto[] {
  const dims: DimProto[] = [];
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.LengthDelimited) dims.push(decodeDimension(r.message('TensorShapeProto.Dimension')));
    else r.skip(wire, field);
  }
  return dims;
}

function decodeTensorType(r: ProtoReader, into: ValueInfoProto): void {
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.Varint) into.elemType = r.int32();
    else if (field === 2 && wire === WireType.LengthDelimited) into.shape = decodeShape(r.message('TensorShapeProto'));
    else r.skip(wire, field);
  }
}

function decodeType(r: ProtoReader, into: ValueInfoProto): void {
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.LengthDelimited) decodeTensorType(r.message('TypeProto.Tensor'), into);
    else r.skip(wire, field);
  }
}

function decodeValueInfo(r: ProtoReader): ValueInfoProto {
  const v: ValueInfoProto = { name: '', elemType: 0 };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.LengthDelimited) v.name = r.string('name');
    else if (field === 2 && wire === WireType.LengthDelimited) decodeType(r.message('TypeProto'), v);
    else r.skip(wire, field);
  }
  return v;
}

const graphFields: FieldReaders<GraphProto> = {
  1: message('node', 'NodeProto', decodeNode, (g, v) => g.node.push(v)),
  2: text('name', (g, v) => (g.name = v)),
  5: message('initializer', 'TensorProto', decodeTensor, (g, v) => g.initializer.push(v)),
  11: message('input', 'ValueInfoProto', decodeValueInfo, (g, v) => g.input.push(v)),
  12: message('output', 'ValueInfoProto', decodeValueInfo, (g, v) => g.output.push(v)),
  13: message('value_info', 'ValueInfoProto', decodeValueInfo, (g, v) => g.valueInfo.push(v)),
  15: counted((g) => g.sparseInitializerCount++),
};

function decodeGraph(r: ProtoReader): GraphProto {
  return decodeFields(r, { name: '', node: [], initializer: [], sparseInitializerCount: 0, input: [], output: [], valueInfo: [] }, graphFields);
}

function decodeOpset(r: ProtoReader): OperatorSetId {
  const o: OperatorSetId = { domain: '', version: 0 };
  while (!r.done) {
    const { field, wire } = r.key();
    if (field === 1 && wire === WireType.LengthDelimited) o.domain = r.string('domain');
    else if (field === 2 && wire === WireType.Varint) o.version = r.int64();
    else r.skip(wire, field);
  }
  return o;
}

const modelFields: FieldReaders<ModelProto> = {
  1: scalar(WireType.Varint, 'ir_version', (r) => r.int64(), (m, v) => (m.irVersion = v)),
  2: text('producer_name', (m, v) => (m.producerName = v)),
  3: text('producer_version', (m, v) => (m.producerVersion = v)),
  4: text('domain', (m, v) => (m.domain = v)),
  5: scalar(WireType.Varint, 'model_version', (r) => r.int64(), (m, v) => (m.modelVersion = v)),
  7: message('graph', 'GraphProto', decodeGraph, (m, v) => (m.graph = v)),
  8: message('opset_import', 'OperatorSetIdProto', decodeOpset, (m, v) => m.opsetImport.push(v)),
  25: counted((m) => m.functionCount++),
};

/**
 * Decodes a serialized `ModelProto`. Throws {@link OnnxFormatError} on
 * malformed input (truncated, corrupted, not protobuf) or when the bytes
 * decode but are not an ONNX model (no IR version, no graph).
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxFormatError('the file is empty');
  const r = new ProtoReader(bytes);
  const m = decodeFields<ModelProto>(
    r,
    { irVersion: 0, producerName: '', producerVersion: '', domain: '', modelVersion: 0, opsetImport: [], functionCount: 0 },
    modelFields,
  );
  if (m.irVersion <= 0 || m.graph === undefined) {
    throw new OnnxFormatError(
      `not an ONNX model: ${m.irVersion <= 0 ? 'no IR version' : 'no graph'} found in ${bytes.length} bytes (is the file an .onnx model?)`,
    );
  }
  return m;
}
