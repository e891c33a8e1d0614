import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, sameBackend } from './check.js';
import { runKernel } from './run-kernel.js';
import type { FloatDType } from '../backend/backend.js';

/** Softmax along `axis` (default: last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const backend = sameBackend('softmax', [x]);
  assertFloat('softmax', x);
  const ax = normalizeAxis(axis, x.rank, 'softmax');
  return runKernel(backend, [x], x.shape, x.dtype, () => backend.softmax(x.handle, x.shape, ax, x.dtype));
}

/** Log-softmax along `axis` (default: last). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const backend = sameBackend('logSoftmax', [x]);
  assertFloat('logSoftmax', x);
  const ax = normalizeAxis(axis, x.rank, 'logSoftmax');
  return runKernel(backend, [x], x.shape, x.dtype, () => backend.logSoftmax(x.handle, x.shape, ax, x.dtype));
}

/**
 * One-hot encoding of int32 class indices into a new last dimension of size
 * `depth`. The caller guarantees the indices are in `[0, depth)`.
 */
export function oneHot(indices: Tensor, depth: number, dtype: FloatDType): Tensor {
  const backend = sameBackend('oneHot', [indices]);
  if (indices.dtype !== 'int32') {
    throw new TypeError(`oneHot: indices must be int32, got ${indices.dtype} of shape ${formatShape(indices.shape)}`);
  }
  return runKernel(backend, [indices], [...indices.shape, depth], dtype, () => backend.oneHot(indices.handle, indices.shape, depth, dtype));
}
