/**
 * The values of ONNX tensors (initializers, Constant nodes): every numeric
 * element type, stored as `raw_data` (little-endian) or in the typed fields,
 * inline or in an external file next to the model.
 */
import { formatShape, sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../errors.js';
import { DataType, dataTypeName, type TensorProto } from '../proto/onnx-proto.js';
import { readExternalData } from './files.js';
import { MAX_DIMENSION, formatInteger, isIntegerIn, rangeText } from './integers.js';
import type { MemoryBudget } from './memory-budget.js';

// The CLI reads its tensor files with the same checks.
export { readFileBytes } from './files.js';

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

/** Bytes per element in `raw_data`, for the numeric types. */
const ELEMENT_BYTES: ReadonlyMap<number, number> = new Map([
  [DataType.FLOAT, 4],
  [DataType.DOUBLE, 8],
  [DataType.FLOAT16, 2],
  [DataType.BFLOAT16, 2],
  [DataType.INT8, 1],
  [DataType.UINT8, 1],
  [DataType.BOOL, 1],
  [DataType.INT16, 2],
  [DataType.UINT16, 2],
  [DataType.INT32, 4],
  [DataType.UINT32, 4],
  [DataType.INT64, 8],
  [DataType.UINT64, 8],
]);

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

/** `count` values of `dataType` from little-endian bytes (whose length the caller has checked). */
function decodeRaw(raw: Uint8Array, dataType: number, count: number): Float64Array {
  const size = ELEMENT_BYTES.get(dataType)!;
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

/** Where a tensor's data may come from, and the memory its values may take. */
export interface TensorContext {
  /** The model file's folder, where external data is read from; undefined for a model given as bytes. */
  readonly modelFolder: string | undefined;
  readonly budget: MemoryBudget;
}

/**
 * Decodes a TensorProto's values as float64 numbers (int64 beyond 2^53 are
 * rounded). `what` names the tensor in messages (`initializer 'fc.weight'`).
 * The shape is checked and the values' memory reserved before anything is
 * read or allocated.
 */
export function tensorValue(t: TensorProto, what: string, context: TensorContext): ConstantValue {
  const bad = t.dims.findIndex((d) => !isIntegerIn(d, 0, MAX_DIMENSION));
  if (bad >= 0) {
    throw new OnnxImportError(`${what}: dimension ${bad} of shape [${t.dims.map(formatInteger).join(', ')}] is ${formatInteger(t.dims[bad]!)}; each dimension ${rangeText(0, MAX_DIMENSION)}`);
  }
  const size = ELEMENT_BYTES.get(t.dataType);
  if (size === undefined) throw new OnnxImportError(`${what}: element type ${dataTypeName(t.dataType)} is not supported (numeric types only)`);
  const count = sizeOf(t.dims);
  const valueBytes = count * Float64Array.BYTES_PER_ELEMENT;
  let values: Float64Array;
  if (t.external !== undefined) {
    context.budget.reserve(count * size + valueBytes, `${what} ${formatShape(t.dims)}`);
    values = decodeRaw(readExternalData(t.external, context.modelFolder, count * size, what), t.dataType, count);
  } else if (t.rawData !== undefined) {
    checkCount(t.rawData.length, count * size, `raw data has ${t.rawData.length} bytes, but ${count} ${dataTypeName(t.dataType)} values need ${count * size}`, what);
    context.budget.reserve(valueBytes, `${what} ${formatShape(t.dims)}`);
    values = decodeRaw(t.rawData, t.dataType, count);
  } else {
    const typed = typedValues(t);
    checkCount(typed.length, count, `has ${typed.length} values, but shape ${formatShape(t.dims)} needs ${count}`, what);
    context.budget.reserve(valueBytes, `${what} ${formatShape(t.dims)}`);
    values = Float64Array.from(typed);
  }
  return { shape: [...t.dims], values, dataType: t.dataType };
}

function checkCount(actual: number, expected: number, problem: string, what: string): void {
  if (actual !== expected) throw new OnnxImportError(`${what}: ${problem} (file truncated or corrupted)`);
}
