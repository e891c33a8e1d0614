/**
 * The values of ONNX tensors (initializers, Constant nodes): every numeric
 * element type, stored as `raw_data` (little-endian) or in the typed fields,
 * inline or in an external file next to the model.
 */
import { OnnxImportError } from '../errors.js';
import { DataType, dataTypeName, type TensorProto } from '../proto/onnx-proto.js';

/** A constant: its shape, its values as float64 numbers, and its ONNX element type. */
export interface ConstantValue {
  readonly shape: readonly number[];
  readonly values: Float64Array;
  readonly dataType: number;
}

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);
const INT_TYPES: ReadonlySet<number> = new Set([
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT32,
  DataType.UINT32,
  DataType.INT64,
  DataType.UINT64,
  DataType.BOOL,
]);

export function isFloatType(code: number): boolean {
  return FLOAT_TYPES.has(code);
}

export function isIntType(code: number): boolean {
  return INT_TYPES.has(code);
}

/** Bytes per element in `raw_data`. */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.DOUBLE]: 8,
  [DataType.FLOAT16]: 2,
  [DataType.BFLOAT16]: 2,
  [DataType.INT8]: 1,
  [DataType.UINT8]: 1,
  [DataType.BOOL]: 1,
  [DataType.INT16]: 2,
  [DataType.UINT16]: 2,
  [DataType.INT32]: 4,
  [DataType.UINT32]: 4,
  [DataType.INT64]: 8,
  [DataType.UINT64]: 8,
};

function float16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function bfloat16(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (bits & 0xffff) << 16);
  return view.getFloat32(0);
}

function decodeRaw(raw: Uint8Array, dataType: number, count: number, what: string): Float64Array {
  const size = ELEMENT_BYTES[dataType];
  if (size === undefined) throw new OnnxImportError(`${what}: element type ${dataTypeName(dataType)} is not supported (numeric types only)`);
  if (raw.length !== count * size) {
    throw new OnnxImportError(`${what}: raw data has ${raw.length} bytes, but ${count} ${dataTypeName(dataType)} values need ${count * size} (file truncated or corrupted)`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * size;
    switch (dataType) {
      case DataType.FLOAT:
        out[i] = view.getFloat32(at, true);
        break;
      case DataType.DOUBLE:
        out[i] = view.getFloat64(at, true);
        break;
      case DataType.FLOAT16:
        out[i] = float16(view.getUint16(at, true));
        break;
      case DataType.BFLOAT16:
        out[i] = bfloat16(view.getUint16(at, true));
        break;
      case DataType.INT8:
        out[i] = view.getInt8(at);
        break;
      case DataType.UINT8:
      case DataType.BOOL:
        out[i] = view.getUint8(at);
        break;
      case DataType.INT16:
        out[i] = view.getInt16(at, true);
        break;
      case DataType.UINT16:
        out[i] = view.getUint16(at, true);
        break;
      case DataType.INT32:
        out[i] = view.getInt32(at, true);
        break;
      case DataType.UINT32:
        out[i] = view.getUint32(at, true);
        break;
      case DataType.INT64:
        out[i] = Number(view.getBigInt64(at, true));
        break;
      case DataType.UINT64:
        out[i] = Number(view.getBigUint64(at, true));
        break;
    }
  }
  return out;
}

/** The typed field that holds a tensor's values when it has no raw data. */
function typedValues(t: TensorProto): readonly number[] {
  switch (t.dataType) {
    case DataType.FLOAT:
      return t.floatData;
    case DataType.DOUBLE:
      return t.doubleData;
    case DataType.INT64:
      return t.int64Data;
    case DataType.UINT32:
    case DataType.UINT64:
      return t.uint64Data;
    case DataType.FLOAT16:
      return t.int32Data.map(float16);
    case DataType.BFLOAT16:
      return t.int32Data.map(bfloat16);
    default:
      return t.int32Data;
  }
}

/** Reads a file through Node's `fs` without a static import (the library also runs in browsers). */
export function readFileBytes(path: string): Uint8Array {
  const fs = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:fs') as
    | typeof import('node:fs')
    | undefined;
  if (fs === undefined) throw new OnnxImportError(`cannot read '${path}': no file system here (pass the model's bytes instead)`);
  try {
    return fs.readFileSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new OnnxImportError(`cannot read '${path}': ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

function joinPath(dir: string, file: string): string {
  const path = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:path') as
    | typeof import('node:path')
    | undefined;
  return path === undefined ? `${dir}/${file}` : path.resolve(dir, file);
}

function externalBytes(t: TensorProto, baseDir: string | undefined, what: string): Uint8Array {
  const location = t.external!['location'];
  if (location === undefined) throw new OnnxImportError(`${what}: external data without a location`);
  if (baseDir === undefined) {
    throw new OnnxImportError(`${what}: its data is stored in the external file '${location}'; import the model from its path (not from bytes) so the file can be found`);
  }
  const bytes = readFileBytes(joinPath(baseDir, location));
  const offset = Number(t.external!['offset'] ?? 0);
  const length = t.external!['length'] === undefined ? bytes.length - offset : Number(t.external!['length']);
  if (!(offset >= 0 && length >= 0 && offset + length <= bytes.length)) {
    throw new OnnxImportError(`${what}: external data range [${offset}, ${offset + length}) lies outside '${location}' (${bytes.length} bytes)`);
  }
  return bytes.subarray(offset, offset + length);
}

/** Decodes a TensorProto's values as float64 numbers (int64 beyond 2^53 lose precision). */
export function tensorValue(t: TensorProto, baseDir?: string): ConstantValue {
  const what = `tensor '${t.name}'`;
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new OnnxImportError(`${what}: invalid shape [${t.dims.join(', ')}]`);
  }
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (!isFloatType(t.dataType) && !isIntType(t.dataType)) {
    throw new OnnxImportError(`${what}: element type ${dataTypeName(t.dataType)} is not supported (numeric types only)`);
  }
  let values: Float64Array;
  if (t.external !== undefined) values = decodeRaw(externalBytes(t, baseDir, what), t.dataType, count, what);
  else if (t.rawData !== undefined) values = decodeRaw(t.rawData, t.dataType, count, what);
  else {
    const typed = typedValues(t);
    if (typed.length !== count) {
      throw new OnnxImportError(`${what}: has ${typed.length} values, but shape [${t.dims.join(', ')}] needs ${count} (file truncated or corrupted)`);
    }
    values = Float64Array.from(typed);
  }
  return { shape: [...t.dims], values, dataType: t.dataType };
}
