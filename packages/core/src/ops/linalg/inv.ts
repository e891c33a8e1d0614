import type { Tensor } from '../../tensor/tensor.js';
import { readSquareMatrices, resultLike } from './matrices.js';
import { solveBatch } from './solve.js';

/**
 * The inverse of square matrices `[..., n, n]` (`torch.linalg.inv`), by LU
 * factorisation with partial pivoting, on the input's backend and dtype.
 * Prefer {@link solve} to multiplying by an inverse.
 *
 * Throws when a matrix is singular (an exactly zero pivot). Not differentiable.
 */
export function inv(A: Tensor): Tensor {
  const op = 'linalg.inv';
  const a = readSquareMatrices(op, A);
  const n = a.rows;
  const identities = new Float64Array(a.data.length);
  for (let b = 0; b < a.count; b++) for (let i = 0; i < n; i++) identities[b * n * n + i * n + i] = 1;
  const x = solveBatch(op, A, a, { ...a, data: identities });
  return resultLike(A, x, A.shape);
}
