import { linalg, tensor, type Tensor } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';

/**
 * Small dense problems of the algorithms (the QR of Hutch++'s sketch, the
 * eigenproblem of Lanczos' tridiagonal matrix) go through core's `linalg` on
 * the operator's backend: in float64 where the backend has it, else in the
 * operator's dtype.
 */
function denseTensor(operator: LinearOperator, data: Float64Array, shape: number[]): Tensor {
  const dtype = operator.backend.dtypes.includes('float64') ? 'float64' : operator.dtype;
  return tensor(data, shape, { backend: operator.backend, dtype });
}

/** Reads a tensor back as float64 and disposes it. */
function readAndDispose(t: Tensor): Float64Array {
  const data = Float64Array.from(t.toArray());
  t.dispose();
  return data;
}

/** An orthonormal basis `Q` (`[n, k]`, row-major, `k = min(n, columns)`) of the span of the `[n, columns]` matrix `y`. */
export function orthonormalBasis(operator: LinearOperator, y: Float64Array, n: number, columns: number): Float64Array {
  const matrix = denseTensor(operator, y, [n, columns]);
  const { Q, R } = linalg.qr(matrix);
  matrix.dispose();
  R.dispose();
  return readAndDispose(Q);
}

/**
 * The eigenvalues (ascending) and eigenvectors (`[m, m]` row-major, column
 * `i` for eigenvalue `i`) of the symmetric tridiagonal matrix with diagonal
 * `alpha` and off-diagonal `beta`.
 */
export function tridiagonalEigen(operator: LinearOperator, alpha: readonly number[], beta: readonly number[]): { values: Float64Array; vectors: Float64Array } {
  const m = alpha.length;
  const data = new Float64Array(m * m);
  alpha.forEach((a, i) => (data[i * m + i] = a));
  beta.slice(0, m - 1).forEach((b, i) => (data[(i + 1) * m + i] = data[i * m + i + 1] = b));
  const matrix = denseTensor(operator, data, [m, m]);
  const { eigenvalues, eigenvectors } = linalg.eigh(matrix);
  matrix.dispose();
  return { values: readAndDispose(eigenvalues), vectors: readAndDispose(eigenvectors) };
}
