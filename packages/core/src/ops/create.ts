import type { Backend, DType, Shape } from '../backend/backend.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * Where and how to create a tensor. A `dtype` written as a literal types the
 * result (`Tensor<'float64'>`, whose `toArray()` is a `Float64Array`).
 */
export interface CreateOptions<D extends DType = DType> {
  /** Backend to allocate on; defaults to the one set with {@link setDefaultBackend}. */
  readonly backend?: Backend;
  /** Element type; default float64, or float32 where the backend has no float64. */
  readonly dtype?: D;
}

let defaultBackend: Backend | undefined;

/** Sets the backend used when creation functions get no `backend` option. */
export function setDefaultBackend(backend: Backend): void {
  defaultBackend = backend;
}

/** The backend set with {@link setDefaultBackend}, or an error saying how to set one. */
export function getDefaultBackend(): Backend {
  if (defaultBackend === undefined) {
    throw new Error(
      'no backend: pass { backend } or call setDefaultBackend(...) with a backend such as cpu from @backpack-ts/backend-cpu',
    );
  }
  return defaultBackend;
}

function resolve<D extends DType>(options: CreateOptions<D>): { backend: Backend; dtype: D } {
  const backend = options.backend ?? getDefaultBackend();
  // Without a dtype, D is DType (the default type argument): the fallback is one of them.
  const dtype = options.dtype ?? ((backend.dtypes.includes('float64') ? 'float64' : 'float32') as D);
  if (!backend.dtypes.includes(dtype)) {
    throw new TypeError(
      `backend '${backend.name}' does not support ${dtype} (it supports ${backend.dtypes.join(', ')})`,
    );
  }
  return { backend, dtype };
}

/** A tensor holding a copy of `data` (row-major) in the given shape. */
export function tensor<D extends DType = DType>(data: ArrayLike<number>, shape: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  const { backend, dtype } = resolve(options);
  assertValidShape(shape);
  if (data.length !== sizeOf(shape)) {
    throw new RangeError(`tensor(): ${data.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} elements)`);
  }
  if (dtype === 'int32') assertIntegers(data);
  return new Tensor(backend, backend.fromData(data, shape, dtype), [...shape], dtype);
}

/** A tensor of `shape` filled with `value`. */
export function full<D extends DType = DType>(shape: Shape, value: number, options: CreateOptions<D> = {}): Tensor<D> {
  const { backend, dtype } = resolve(options);
  assertValidShape(shape);
  return new Tensor(backend, backend.full(shape, value, dtype), [...shape], dtype);
}

/** A tensor of `shape` filled with zeros. */
export function zeros<D extends DType = DType>(shape: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  return full(shape, 0, options);
}

/** A tensor of `shape` filled with ones. */
export function ones<D extends DType = DType>(shape: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  return full(shape, 1, options);
}

/** The `n x n` identity matrix. */
export function eye<D extends DType = DType>(n: number, options: CreateOptions<D> = {}): Tensor<D> {
  const data = new Float64Array(n * n);
  for (let i = 0; i < n; i++) data[i * n + i] = 1;
  return tensor(data, [n, n], options);
}

/** A tensor like `like` (backend, dtype, and shape unless given) filled with `value`. */
export function fullLike(like: Tensor, value: number, shape: Shape = like.shape): Tensor {
  return full(shape, value, { backend: like.backend, dtype: like.dtype });
}

/** Zeros of `like`'s shape, dtype and backend. */
export function zerosLike(like: Tensor): Tensor {
  return fullLike(like, 0);
}

/** A scalar (shape `[]`) on the same backend and dtype as `like`. */
export function scalarLike(like: Tensor, value: number): Tensor {
  return fullLike(like, value, []);
}

function assertValidShape(shape: Shape): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new RangeError(`invalid shape ${formatShape(shape)}: dimensions must be non-negative integers`);
  }
}

function assertIntegers(data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    const value = data[i]!;
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw new RangeError(`tensor(): int32 data must be integers, got ${value} at index ${i}`);
    }
  }
}
