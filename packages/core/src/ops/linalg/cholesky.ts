import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { readSquareMatrices, resultLike, whichMatrix } from './matrices.js';

/**
 * The Cholesky factor `L` of symmetric positive definite matrices
 * `A = L Lᵀ` (`torch.linalg.cholesky`, lower): `A` is `[..., n, n]`, only its
 * lower triangle is read, and `L` is lower triangular with a positive
 * diagonal, on `A`'s backend and dtype.
 *
 * Throws when a pivot is not positive (the matrix is not positive definite),
 * naming the leading minor that fails. Not differentiable.
 */
export function cholesky(A: Tensor): Tensor {
  const op = 'linalg.cholesky';
  const batch = readSquareMatrices(op, A);
  const n = batch.rows;
  const L = new Float64Array(batch.data.length);
  for (let b = 0; b < batch.count; b++) {
    const failed = choleskyInPlace(batch.data, L, b * n * n, n);
    if (failed !== undefined) {
      throw new RangeError(
        `${op}: the matrix of shape ${formatShape(A.shape)}${whichMatrix(batch, b)} is not positive definite: ` +
          `the leading minor of order ${failed.order} has pivot ${failed.pivot} (a positive pivot is needed)`,
      );
    }
  }
  return resultLike(A, L, A.shape);
}

/**
 * Writes the lower Cholesky factor of the `n x n` matrix at `offset` in `a`
 * (lower triangle read) into `l` at the same offset. Returns the first
 * leading minor whose pivot is not positive (or NaN), else `undefined`.
 */
export function choleskyInPlace(a: Float64Array, l: Float64Array, offset: number, n: number): { order: number; pivot: number } | undefined {
  for (let j = 0; j < n; j++) {
    const rowJ = offset + j * n;
    let pivot = a[rowJ + j]!;
    for (let k = 0; k < j; k++) pivot -= l[rowJ + k]! * l[rowJ + k]!;
    if (!(pivot > 0)) return { order: j + 1, pivot };
    const diagonal = Math.sqrt(pivot);
    l[rowJ + j] = diagonal;
    for (let i = j + 1; i < n; i++) {
      const rowI = offset + i * n;
      let value = a[rowI + j]!;
      for (let k = 0; k < j; k++) value -= l[rowI + k]! * l[rowJ + k]!;
      l[rowI + j] = value / diagonal;
    }
  }
  return undefined;
}
