/**
 * Neural-network kernels: softmax and log-softmax along an axis, one-hot
 * encoding.
 *
 * Derivatives: with p the softmax, softmax's Jacobian `diag(p) - p pᵀ` is
 * symmetric (VJP and JVP are one map), log-softmax's is `I - 1 pᵀ`. One-hot
 * takes integer indices and records nothing.
 *
 * Sample mixing (axis 0 of input and output read as the batch axis): softmax
 * and log-softmax mix samples when they normalise along axis 0.
 */
import type { FloatDType } from '../backend/backend.js';
import type { OpDerivatives } from '../tensor/autograd.js';
import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, sameBackend } from './check.js';
import { exp, mul, sub } from './elementwise.js';
import { record } from './record.js';
import { runKernel } from './run-kernel.js';
import { sum } from './sum.js';

/** Softmax along `axis` (default: last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const backend = sameBackend('softmax', [x]);
  assertFloat('softmax', x);
  const ax = normalizeAxis(axis, x.rank, 'softmax');
  const y = runKernel(backend, [x], x.shape, x.dtype, () => backend.softmax(x.handle, x.shape, ax, x.dtype));
  return record('softmax', [x], y, () => softmaxDerivatives(y, ax), ax === 0);
}

function softmaxDerivatives(p: Tensor, axis: number): OpDerivatives {
  // p ⊙ (v - <v, p>) along the axis.
  const apply = (v: Tensor) => mul(p, sub(v, sum(mul(v, p), axis + v.rank - p.rank, true)));
  return { vjp: (g) => [apply(g)], jvp: ([t]) => apply(t!) };
}

/** Log-softmax along `axis` (default: last). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const backend = sameBackend('logSoftmax', [x]);
  assertFloat('logSoftmax', x);
  const ax = normalizeAxis(axis, x.rank, 'logSoftmax');
  const y = runKernel(backend, [x], x.shape, x.dtype, () => backend.logSoftmax(x.handle, x.shape, ax, x.dtype));
  return record('logSoftmax', [x], y, () => logSoftmaxDerivatives(y, ax), ax === 0);
}

function logSoftmaxDerivatives(y: Tensor, axis: number): OpDerivatives {
  // The softmax is exp(y), so that under createGraph it depends on x through y.
  const along = (v: Tensor) => axis + v.rank - y.rank;
  return {
    vjp: (g) => [sub(g, mul(exp(y), sum(g, along(g), true)))],
    jvp: ([t]) => sub(t!, sum(mul(t!, exp(y)), along(t!), true)),
  };
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
