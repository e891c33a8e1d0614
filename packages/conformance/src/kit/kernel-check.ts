/**
 * Runs one kernel case on the backend under test and on the reference
 * (backend-cpu in float64) and compares them.
 *
 * Inputs are built on the tested backend the way core would hand them over:
 * from data, or as the result of a `permute`, `slice` or `reshape` of a
 * larger or reordered tensor ("views": a backend that shares memory between
 * handles must still read them right). Both sides get the same numbers: in
 * float32 the values are rounded to float32 first, so the reference is the
 * float64 result of the very inputs the backend saw.
 */
import { CpuBackend } from '@backpack-ts/backend-cpu';
import { formatShape, sizeOf, type Backend, type DataArray, type DType, type FloatDType, type Shape } from '@backpack-ts/core';
import type { ConformanceCheck } from './report.js';
import { unravel } from '../compare.js';

/** How an input handle is produced on the tested backend. */
export type InputView =
  | {
      /** `fromData` of the values. */
      readonly kind: 'data';
    }
  | {
      /** `permute` of a tensor stored with its dimensions in another order. */
      readonly kind: 'permuted';
      /** The permutation that gives the input's order. */
      readonly perm: readonly number[];
    }
  | {
      /** `slice` out of a tensor one element larger on every side. */
      readonly kind: 'sliced';
    }
  | {
      /** `reshape` of the flat data. */
      readonly kind: 'reshaped';
    };

/** One input of a kernel case: its shape, values and how its handle is produced. */
export interface InputSpec {
  /** Dimensions. */
  readonly shape: Shape;
  /** Row-major values of the logical input; rounded to the run's dtype before use. */
  readonly values: readonly number[];
  /** int32 inputs (indices) keep this dtype whatever the run's float dtype. */
  readonly int32?: boolean;
  /** How the handle is produced (default: from data). */
  readonly view?: InputView;
}

/** An input of `shape` holding `values`, built as `view` says (default: from data). */
export function input(shape: Shape, values: readonly number[], view?: InputView, int32?: boolean): InputSpec {
  return { shape, values, ...(view && { view }), ...(int32 === true && { int32 }) };
}

/** One output of a kernel call: the backend's handle with its shape and dtype. */
export interface KernelOutput {
  /** The backend's handle. */
  readonly handle: unknown;
  /** Dimensions. */
  readonly shape: Shape;
  /** Element type. */
  readonly dtype: DType;
}

/** One kernel check: inputs, the call, and how it is compared with backend-cpu. */
export interface KernelCase {
  /** Kernel family for the summary: `unary`, `binary`, `matmul`, `layout`, ... */
  readonly family: string;
  /** Unique, readable: `unary exp [3, 4] sliced`. */
  readonly name: string;
  /** The kernel's inputs. */
  readonly inputs: readonly InputSpec[];
  /**
   * Calls the kernel. `dtype` is the run's float dtype on the tested backend
   * and `float64` on the reference.
   */
  readonly run: (backend: Backend, handles: readonly unknown[], dtype: FloatDType) => KernelOutput;
  /** Results must match the float64 reference rounded to the dtype exactly (copies, comparisons, indices). */
  readonly exact?: boolean;
  /** A JavaScript reference instead of backend-cpu (e.g. casts between dtypes). Gets the rounded input values. */
  readonly expected?: (inputs: readonly (readonly number[])[], dtype: FloatDType) => readonly number[];
  /** Dtypes the case needs besides the run's float dtype (int32 inputs count by themselves): skipped on backends without them. */
  readonly needs?: (dtype: FloatDType) => readonly DType[];
}

/** The dtypes a case stores on the tested backend in a run of `dtype`. */
export function dtypesOf(kernel: KernelCase, dtype: FloatDType): DType[] {
  const all = new Set<DType>([dtype, ...(kernel.needs?.(dtype) ?? [])]);
  for (const spec of kernel.inputs) if (spec.int32 === true) all.add('int32');
  return [...all];
}

function round(value: number, dtype: DType): number {
  if (dtype === 'float32') return Math.fround(value);
  if (dtype === 'int32') return Math.trunc(value) | 0;
  return value;
}

/** The dtype of an input on the tested backend in a run of `dtype`. */
export function inputDType(spec: InputSpec, dtype: FloatDType): DType {
  return spec.int32 === true ? 'int32' : dtype;
}

function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d]!;
  }
  return strides;
}

/** Calls `visit(flatIndex, multiIndex)` for every element of `shape` in row-major order. */
function forEachIndex(shape: Shape, visit: (flat: number, index: readonly number[]) => void): void {
  const size = sizeOf(shape);
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < size; flat++) {
    visit(flat, index);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
}

/** Builds an input handle on `backend`, recording every handle it creates in `created`. */
function makeInput(backend: Backend, spec: InputSpec, values: readonly number[], dtype: DType, created: unknown[]): unknown {
  const view = spec.view ?? { kind: 'data' };
  const track = <T>(h: T): T => {
    created.push(h);
    return h;
  };
  switch (view.kind) {
    case 'data':
      return track(backend.fromData(values, spec.shape, dtype));
    case 'reshaped': {
      const flat = track(backend.fromData(values, [values.length], dtype));
      return track(backend.reshape(flat, [values.length], spec.shape, dtype));
    }
    case 'permuted': {
      // Stored tensor S with permute(S, perm) = X: S.shape[perm[i]] = X.shape[i].
      const perm = view.perm;
      const storedShape = new Array<number>(perm.length);
      perm.forEach((p, i) => (storedShape[p] = spec.shape[i]!));
      const storedStrides = stridesOf(storedShape);
      const stored = new Array<number>(values.length);
      forEachIndex(spec.shape, (flat, index) => {
        let offset = 0;
        for (let i = 0; i < perm.length; i++) offset += index[i]! * storedStrides[perm[i]!]!;
        stored[offset] = values[flat]!;
      });
      const handle = track(backend.fromData(stored, storedShape, dtype));
      return track(backend.permute(handle, storedShape, perm, dtype));
    }
    case 'sliced': {
      // One extra element of filler on both sides of every dimension.
      const bigShape = spec.shape.map((d) => d + 2);
      const bigStrides = stridesOf(bigShape);
      const big = new Array<number>(sizeOf(bigShape)).fill(round(-7.25, dtype));
      forEachIndex(spec.shape, (flat, index) => {
        let offset = 0;
        for (let d = 0; d < index.length; d++) offset += (index[d]! + 1) * bigStrides[d]!;
        big[offset] = values[flat]!;
      });
      const handle = track(backend.fromData(big, bigShape, dtype));
      return track(backend.slice(handle, bigShape, bigShape.map(() => 1), spec.shape, dtype));
    }
  }
}

function viewLabel(view: InputView | undefined): string {
  if (view === undefined || view.kind === 'data') return '';
  return view.kind === 'permuted' ? `permuted(${view.perm.join(',')})` : view.kind;
}

/** Appends the views of the inputs to a case name: `... (a sliced, b permuted(1,0))`. */
export function describeViews(inputs: readonly InputSpec[]): string {
  const names = ['a', 'b', 'c', 'd'];
  const parts = inputs.flatMap((spec, i) => {
    const label = viewLabel(spec.view);
    return label === '' ? [] : [inputs.length === 1 ? label : `${names[i] ?? i} ${label}`];
  });
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

const expectedArrayType: Record<DType, string> = { float32: 'Float32Array', float64: 'Float64Array', int32: 'Int32Array' };

/**
 * NaN-aware comparison relative to the largest finite expected magnitude:
 * matching NaNs and equal infinities count as exact; a NaN or infinity on one
 * side only is an infinite error.
 */
export function relativeError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): {
  /** The largest error. */
  error: number;
  /** Flat index of that error (-1 when there are no elements). */
  worst: number;
} {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (Number.isFinite(e)) scale = Math.max(scale, Math.abs(e));
  }
  let error = 0;
  let worst = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let diff: number;
    if (Number.isNaN(e) || Number.isNaN(a)) diff = Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
    else if (!Number.isFinite(e) || !Number.isFinite(a)) diff = a === e ? 0 : Infinity;
    else diff = Math.abs(a - e) / (scale > 0 ? scale : 1);
    if (worst < 0 || diff > error) {
      error = diff;
      worst = i;
    }
  }
  return { error, worst };
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(a[i] === b[i])) return false;
  return true;
}


const reference = new CpuBackend();

/** Runs `kernel` on `backend` in `dtype` and on the float64 reference; never throws. */
export function runKernelCase(backend: Backend, kernel: KernelCase, dtype: FloatDType, tolerance: number): ConformanceCheck {
  const check = (pass: boolean, maxError: number, message: string): ConformanceCheck => ({
    part: 'kernels',
    family: kernel.family,
    name: kernel.name,
    maxError,
    tolerance: kernel.exact === true ? 0 : tolerance,
    pass,
    message: `${kernel.name}: ${pass ? 'ok' : 'FAIL'} ${message}`,
  });
  const rounded = kernel.inputs.map((spec) => spec.values.map((v) => round(v, inputDType(spec, dtype))));

  // The reference: backend-cpu in float64 (int32 inputs stay int32), or the case's own.
  let expected: readonly number[];
  try {
    if (kernel.expected !== undefined) expected = kernel.expected(rounded, dtype);
    else {
      const handles = kernel.inputs.map((spec, i) => reference.fromData(rounded[i]!, spec.shape, inputDType(spec, 'float64')));
      const out = kernel.run(reference as Backend, handles, 'float64');
      expected = Array.from(reference.read(out.handle as DataArray, out.shape, out.dtype));
    }
  } catch (error) {
    return check(false, Infinity, `the reference threw: ${error instanceof Error ? error.message : String(error)}`);
  }

  const created: unknown[] = [];
  try {
    const handles = kernel.inputs.map((spec, i) => makeInput(backend, spec, rounded[i]!, inputDType(spec, dtype), created));
    const out = kernel.run(backend, handles, dtype);
    if (!created.includes(out.handle)) created.push(out.handle);
    const actual = backend.read(out.handle, out.shape, out.dtype);
    const size = sizeOf(out.shape);
    if (actual.length !== size || expected.length !== size) {
      return check(false, Infinity, `read ${actual.length} values for shape ${formatShape(out.shape)} (expected ${expected.length})`);
    }
    if (actual.constructor.name !== expectedArrayType[out.dtype]) {
      return check(false, Infinity, `read returned a ${actual.constructor.name} for ${out.dtype} (expected ${expectedArrayType[out.dtype]})`);
    }
    // Kernels never modify their inputs.
    for (let i = 0; i < handles.length; i++) {
      const spec = kernel.inputs[i]!;
      const now = backend.read(handles[i], spec.shape, inputDType(spec, dtype));
      if (!sameValues(now, rounded[i]!)) return check(false, Infinity, `modified its input ${i}`);
    }
    const target = kernel.exact === true ? expected.map((v) => round(v, out.dtype)) : expected;
    const { error, worst } = relativeError(actual, target);
    const limit = kernel.exact === true ? 0 : tolerance;
    const pass = error <= limit;
    const where =
      worst < 0 || pass ? '' : `; worst at [${unravel(worst, out.shape).join(', ')}]: ${actual[worst]} vs ${target[worst]}`;
    return check(pass, error, `rel ${error.toExponential(2)} (tolerance ${limit === 0 ? 'exact' : limit.toExponential(0)})${where}`);
  } catch (error) {
    return check(false, Infinity, `threw: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    // Each distinct handle once (a backend may return the same object, e.g. from reshape).
    const distinct = [...new Set(created)];
    for (let i = distinct.length - 1; i >= 0; i--) {
      try {
        backend.dispose(distinct[i]);
      } catch {
        // A failing dispose shows up in the live-handle check.
      }
    }
  }
}
