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

const dataTypeNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(DataType).map(([name, value]) => [value, name.toLowerCase()]),
);

/** `float`, `int64`, ... or `type <n>` for codes this decoder does not name. */
export function dataTypeName(code: number): string {
  return dataTypeNames[code] ?? `type ${code}`;
}

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes, when stored that way (the usual case). */
  rawData?: Uint8Array;
  floatData: number[];
  int32Data: number[];
  int64Data: number[];
  doubleData: number[];
  uint64Data: number[];
  /** `data_location == EXTERNAL`: the data lives in another file. */
  external?: Readonly<Record<string, string>>;
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

export interface NodeProto {
  name: string;
  opType: string;
  domain: string;
  input: string[];
  output: string[];
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

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  sparseInitializerCount: number;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface OperatorSetId {
  domain: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  opsetImport: OperatorSetId[];
  graph?: GraphProto;
  /** Number of model-local functions (not supported by the importer, but reported). */
  functionCount: number;
}

const int64 = ProtoReader.prototype.int64;
const uint64 = ProtoReader.prototype.varint;
const int32 = ProtoReader.prototype.int32;
const float = ProtoReader.prototype.fixed32Float;
const double = ProtoReader.prototype.fixed64Double;

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

export function decodeTensor(r: ProtoReader): TensorProto {
  const t: TensorProto = { name: '', dims: [], dataType: 0, floatData: [], int32Data: [], int64Data: [], doubleData: [], uint64Data: [] };
  let location = 0;
  const external: Record<string, string> = {};
  while (!r.done) {
    const { field, wire } = r.key();
    switch (field) {
      case 1:
        r.repeated(wire, WireType.Varint, int64, t.dims, 'dims');
        break;
      case 2:
        r.expect(wire, WireType.Varint, 'data_type');
        t.dataType = r.int32();
        break;
      case 4:
        r.repeated(wire, WireType.Fixed32, float, t.floatData, 'float_data');
        break;
      case 5:
        r.repeated(wire, WireType.Varint, int32, t.int32Data, 'int32_data');
        break;
      case 7:
        r.repeated(wire, WireType.Varint, int64, t.int64Data, 'int64_data');
        break;
      case 8:
        r.expect(wire, WireType.LengthDelimited, 'name');
        t.name = r.string('name');
        break;
      case 9:
        r.expect(wire, WireType.LengthDelimited, 'raw_data');
        t.rawData = r.bytesField('raw_data');
        break;
      case 10:
        r.repeated(wire, WireType.Fixed64, double, t.doubleData, 'double_data');
        break;
      case 11:
        r.repeated(wire, WireType.Varint, uint64, t.uint64Data, 'uint64_data');
        break;
      case 13: {
        r.expect(wire, WireType.LengthDelimited, 'external_data');
        const [key, value] = decodeStringEntry(r.message('StringStringEntryProto'));
        external[key] = value;
        break;
      }
      case 14:
        r.expect(wire, WireType.Varint, 'data_location');
        location = r.int32();
        break;
      default:
        r.skip(wire, field);
    }
  }
  if (location === 1) t.external = external;
  return t;
}

function decodeAttribute(r: ProtoReader): AttributeProto {
  const a: AttributeProto = { name: '', type: 0, floats: [], ints: [], strings: [], tensors: [], graphs: [] };
  while (!r.done) {
    const { field, wire } = r.key();
    switch (field) {
      case 1:
        r.expect(wire, WireType.LengthDelimited, 'name');
        a.name = r.string('name');
        break;
      case 2:
        r.expect(wire, WireType.Fixed32, 'f');
        a.f = r.fixed32Float();
        break;
      case 3:
        r.expect(wire, WireType.Varint, 'i');
        a.i = r.int64();
        break;
      case 4:
        r.expect(wire, WireType.LengthDelimited, 's');
        a.s = r.bytesField('s');
        break;
      case 5:
        r.expect(wire, WireType.LengthDelimited, 't');
        a.t = decodeTensor(r.message('TensorProto'));
        break;
      case 6:
        r.expect(wire, WireType.LengthDelimited, 'g');
        a.g = decodeGraph(r.message('GraphProto'));
        break;
      case 7:
        r.repeated(wire, WireType.Fixed32, float, a.floats, 'floats');
        break;
      case 8:
        r.repeated(wire, WireType.Varint, int64, a.ints, 'ints');
        break;
      case 9:
        r.expect(wire, WireType.LengthDelimited, 'strings');
        a.strings.push(r.bytesField('strings'));
        break;
      case 10:
        r.expect(wire, WireType.LengthDelimited, 'tensors');
        a.tensors.push(decodeTensor(r.message('TensorProto')));
        break;
      case 11:
        r.expect(wire, WireType.LengthDelimited, 'graphs');
        a.graphs.push(decodeGraph(r.message('GraphProto')));
        break;
      case 20:
        r.expect(wire, WireType.Varint, 'type');
        a.type = r.int32();
        break;
      default:
        r.skip(wire, field);
    }
  }
  return a;
}

function decodeNode(r: ProtoReader): NodeProto {
  const n: NodeProto = { name: '', opType: '', domain: '', input: [], output: [], attribute: [] };
  while (!r.done) {
    const { field, wire } = r.key();
    switch (field) {
      case 1:
        r.expect(wire, WireType.LengthDelimited, 'input');
        n.input.push(r.string('input'));
        break;
      case 2:
        r.expect(wire, WireType.LengthDelimited, 'output');
        n.output.push(r.string('output'));
        break;
      case 3:
        r.expect(wire, WireType.LengthDelimited, 'name');
        n.name = r.string('name');
        break;
      case 4:
        r.expect(wire, WireType.LengthDelimited, 'op_type');
        n.opType = r.string('op_type');
        break;
      case 5:
        r.expect(wire, WireType.LengthDelimited, 'attribute');
        n.attribute.push(decodeAttribute(r.message('AttributeProto')));
        break;
      case 7:
        r.expect(wire, WireType.LengthDelimited, 'domain');
        n.domain = r.string('domain');
        break;
      default:
        r.skip(wire, field);
    }
  }
  return n;
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

function decodeGraph(r: ProtoReader): GraphProto {
  const g: GraphProto = { name: '', node: [], initializer: [], sparseInitializerCount: 0, input: [], output: [], valueInfo: [] };
  while (!r.done) {
    const { field, wire } = r.key();
    switch (field) {
      case 1:
        r.expect(wire, WireType.LengthDelimited, 'node');
        g.node.push(decodeNode(r.message('NodeProto')));
        break;
      case 2:
        r.expect(wire, WireType.LengthDelimited, 'name');
        g.name = r.string('name');
        break;
      case 5:
        r.expect(wire, WireType.LengthDelimited, 'initializer');
        g.initializer.push(decodeTensor(r.message('TensorProto')));
        break;
      case 11:
        r.expect(wire, WireType.LengthDelimited, 'input');
        g.input.push(decodeValueInfo(r.message('ValueInfoProto')));
        break;
      case 12:
        r.expect(wire, WireType.LengthDelimited, 'output');
        g.output.push(decodeValueInfo(r.message('ValueInfoProto')));
        break;
      case 13:
        r.expect(wire, WireType.LengthDelimited, 'value_info');
        g.valueInfo.push(decodeValueInfo(r.message('ValueInfoProto')));
        break;
      case 15:
        r.skip(wire, field);
        g.sparseInitializerCount++;
        break;
      default:
        r.skip(wire, field);
    }
  }
  return g;
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

/**
 * Decodes a serialized `ModelProto`. Throws {@link OnnxFormatError} on
 * malformed input (truncated, corrupted, not protobuf) or when the bytes
 * decode but are not an ONNX model (no IR version, no graph).
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxFormatError('the file is empty');
  const r = new ProtoReader(bytes);
  const m: ModelProto = { irVersion: 0, producerName: '', producerVersion: '', domain: '', modelVersion: 0, opsetImport: [], functionCount: 0 };
  while (!r.done) {
    const { field, wire } = r.key();
    switch (field) {
      case 1:
        r.expect(wire, WireType.Varint, 'ir_version');
        m.irVersion = r.int64();
        break;
      case 2:
        r.expect(wire, WireType.LengthDelimited, 'producer_name');
        m.producerName = r.string('producer_name');
        break;
      case 3:
        r.expect(wire, WireType.LengthDelimited, 'producer_version');
        m.producerVersion = r.string('producer_version');
        break;
      case 4:
        r.expect(wire, WireType.LengthDelimited, 'domain');
        m.domain = r.string('domain');
        break;
      case 5:
        r.expect(wire, WireType.Varint, 'model_version');
        m.modelVersion = r.int64();
        break;
      case 7:
        r.expect(wire, WireType.LengthDelimited, 'graph');
        m.graph = decodeGraph(r.message('GraphProto'));
        break;
      case 8:
        r.expect(wire, WireType.LengthDelimited, 'opset_import');
        m.opsetImport.push(decodeOpset(r.message('OperatorSetIdProto')));
        break;
      case 25:
        r.skip(wire, field);
        m.functionCount++;
        break;
      default:
        r.skip(wire, field);
    }
  }
  if (m.irVersion <= 0 || m.graph === undefined) {
    throw new OnnxFormatError(
      `not an ONNX model: ${m.irVersion <= 0 ? 'no IR version' : 'no graph'} found in ${bytes.length} bytes (is the file an .onnx model?)`,
    );
  }
  return m;
}
