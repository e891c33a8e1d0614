import { eye, ones } from '../ops/create.js';
import { mul } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The square root of a per-sample Hessian that is diagonal, `diag(√h_n)`, laid
 * out as BackPACK's sqrt matrices: `[D, N, ...shape]` with D = elements per
 * sample, entry `[d, n, d] = √h_n[d]`. `diagonal` is `[N, ...shape]` and must
 * already hold the square roots.
 */
export function diagonalSqrtHessian(diagonal: Tensor): Tensor {
  const n = diagonal.shape[0]!;
  const shape = diagonal.shape.slice(1);
  const d = sizeOf(shape);
  const identity = reshape(eye(d, { backend: diagonal.backend, dtype: diagonal.dtype }), [d, 1, d]);
  return reshape(mul(identity, reshape(diagonal, [1, n, d])), [d, n, ...shape]);
}

/** A constant diagonal square root `√c · I` for every sample, `[D, N, ...shape]`. */
export function constantSqrtHessian(like: Tensor, sqrtValue: number): Tensor {
  return diagonalSqrtHessian(mul(ones(like.shape, { backend: like.backend, dtype: like.dtype }), sqrtValue));
}
