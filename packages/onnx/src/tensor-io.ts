/**
 * Tensor files for the command line: JSON `{shape, data}` (as the golden
 * files store tensors) and NumPy `.npy` (float32, float64, int64 and int32,
 * C order).
 *
 * JSON has no NaN or Infinity: in `data`, the strings `"NaN"`,
 * `"Infinity"` and `"-Infinity"` stand for them (the convention the CLI
 * writes results in), and are read back as those values.
 */
import { UserError } from './errors.js';
import { readFileBytes } from './import/initializers.js';

/** A tensor read from a file: shape, row-major values, and whether they were stored as integers. */
export interface TensorFile {
  /** Dimensions. */
  readonly shape: number[];
  /** The elements, row-major, as float64. */
  readonly data: Float64Array;
  /** Whether the file stored integers (an integer `.npy` dtype). */
  readonly integer: boolean;
}

function fail(path: string, message: string): never {
  throw new UserError(`${path}: ${message}`);
}

function checkShape(path: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
    fail(path, `'shape' must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape as number[];
}

/** Deepest nesting of JSON lists read as a tensor (its rank): numpy's limit. */
export const MAX_TENSOR_RANK = 64;

/** The strings that stand for the non-finite numbers in JSON data. */
const NON_FINITE: ReadonlyMap<string, number> = new Map([
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
]);

/** `value` as JSON writes it: a number, or for NaN and ±Infinity the string standing for it (see {@link parseJsonTensor}). */
export function jsonNumber(value: number): string {
  return Number.isFinite(value) ? JSON.stringify(value) : `"${value}"`;
}

function flattenNested(path: string, value: unknown, shape: number[], depth: number, out: unknown[]): void {
  if (Array.isArray(value)) {
    if (depth >= MAX_TENSOR_RANK) fail(path, `lists nested deeper than ${MAX_TENSOR_RANK} levels (a tensor has at most ${MAX_TENSOR_RANK} dimensions)`);
    if (shape.length <= depth) shape.push(value.length);
    else if (shape[depth] !== value.length) fail(path, `ragged nested list: length ${value.length} where ${shape[depth]} was seen before`);
    for (const item of value) flattenNested(path, item, shape, depth + 1, out);
    return;
  }
  if (depth !== shape.length) fail(path, 'ragged nested list');
  out.push(value);
}

/** The number `value` stands for: a number, or one of the strings `"NaN"`, `"Infinity"`, `"-Infinity"`. */
function toNumber(path: string, value: unknown, index: number): number {
  if (typeof value === 'number') return value;
  const special = typeof value === 'string' ? NON_FINITE.get(value) : undefined;
  if (special === undefined) fail(path, `data[${index}] is ${JSON.stringify(value)}, not a number (nor "NaN", "Infinity", "-Infinity")`);
  return special;
}

/**
 * Parses a JSON tensor: `{shape, data}` with flat `data`, `{shape, data}`
 * with nested `data`, or a bare nested list. Numbers may be written as the
 * strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
 */
export function parseJsonTensor(text: string, path = 'tensor'): TensorFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    fail(path, `not valid JSON (${(error as Error).message})`);
  }
  let shape: number[];
  let values: unknown[];
  if (Array.isArray(parsed)) {
    shape = [];
    values = [];
    flattenNested(path, parsed, shape, 0, values);
  } else if (typeof parsed === 'object' && parsed !== null && Object.hasOwn(parsed, 'data')) {
    const { shape: rawShape, data } = parsed as { shape?: unknown; data: unknown };
    if (!Array.isArray(data)) fail(path, `'data' must be a list of numbers`);
    const nestedShape: number[] = [];
    values = [];
    flattenNested(path, data, nestedShape, 0, values);
    shape = rawShape === undefined ? nestedShape : checkShape(path, rawShape);
  } else {
    fail(path, `expected a tensor {"shape": [...], "data": [...]}`);
  }
  const data = Float64Array.from(values, (v, i) => toNumber(path, v, i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) fail(path, `${data.length} values do not fill shape [${shape.join(', ')}] (${size} elements)`);
  return { shape, data, integer: data.every((v) => Number.isInteger(v)) };
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** An int64 value as a number, or a UserError when a number cannot hold it exactly (beyond ±2^53). */
function exactInt64(path: string, value: bigint, index: number): number {
  if (value > 2n ** 53n || value < -(2n ** 53n)) {
    fail(path, `int64 value ${value} at index ${index} is out of the range this reader holds exactly, [-2^53, 2^53] = [-9007199254740992, 9007199254740992]`);
  }
  return Number(value);
}

/** Parses a `.npy` file (format versions 1 to 3). */
export function parseNpy(bytes: Uint8Array, path = 'tensor.npy'): TensorFile {
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) fail(path, 'not a .npy file (no \\x93NUMPY header)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let offset: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(path, 'truncated header');
    headerLength = view.getUint32(8, true);
    offset = 12;
  } else fail(path, `unsupported .npy format version ${major}`);
  if (offset + headerLength > bytes.length) fail(path, 'truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(offset, offset + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(path, `cannot read the header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') fail(path, 'Fortran order is not supported; save a C-ordered array (np.ascontiguousarray)');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(path, `invalid shape (${shapeText})`);
  const start = offset + headerLength;
  const kinds = new Map<string, { size: number; integer: boolean; read: (v: DataView, at: number, little: boolean) => number }>([
    ['f4', { size: 4, integer: false, read: (v, at, le) => v.getFloat32(at, le) }],
    ['f8', { size: 8, integer: false, read: (v, at, le) => v.getFloat64(at, le) }],
    ['i8', { size: 8, integer: true, read: (v, at, le) => exactInt64(path, v.getBigInt64(at, le), (at - start) / 8) }],
    ['i4', { size: 4, integer: true, read: (v, at, le) => v.getInt32(at, le) }],
  ]);
  const order = descr[0];
  const kind = kinds.get(descr.slice(1));
  if (kind === undefined || (order !== '<' && order !== '>' && order !== '=')) {
    fail(path, `dtype '${descr}' is not supported (float32, float64, int64 or int32 are)`);
  }
  const little = order !== '>';
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - start < count * kind.size) fail(path, `truncated data: ${count} values need ${count * kind.size} bytes, ${bytes.length - start} present`);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = kind.read(view, start + i * kind.size, little);
  return { shape, data, integer: kind.integer };
}

/** Reads a tensor from a `.json` or `.npy` file (by its content: `.npy` files start with \x93NUMPY). */
export function readTensorFile(path: string): TensorFile {
  const bytes = readFileBytes(path);
  if (bytes.length >= 6 && NPY_MAGIC.every((b, i) => bytes[i] === b)) return parseNpy(bytes, path);
  return parseJsonTensor(new TextDecoder().decode(bytes), path);
}
