import { formatShape, shapesEqual } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { luFactor, luSolve } from './lu.js';
import { assertSameKind, readMatrices, readSquareMatrices, resultLike, whichMatrix, type MatrixBatch } from './matrices.js';

/**
 * The solution `X` of `A X = B` (`torch.linalg.solve`), by LU factorisation
 * with partial pivoting: `A` is `[..., n, n]`; `B` is `[..., n, k]`
 * (matrices) or `[..., n]` (vectors, when its shape is `A`'s without the
 * last dimension), with the same batch dimensions as `A` (no broadcasting).
 * `X` has `B`'s shape, backend and dtype.
 *
 * Throws when `A` is singular (an exactly zero pivot). Not differentiable.
 */
export function solve(A: Tensor, B: Tensor): Tensor {
  const op = 'linalg.solve';
  const a = readSquareMatrices(op, A, 'A');
  assertSameKind(op, [A, B]);
  const n = a.rows;
  const vectors = B.rank === A.rank - 1 && shapesEqual(B.shape, A.shape.slice(0, -1));
  if (!vectors && !(B.rank === A.rank && shapesEqual(B.shape.slice(0, -1), A.shape.slice(0, -1)))) {
    throw new RangeError(
      `${op}: B of shape ${formatShape(B.shape)} does not fit A of shape ${formatShape(A.shape)}: ` +
        `B must be [...batch, ${n}, k] or [...batch, ${n}] with A's batch dimensions [${a.batchShape.join(', ')}]`,
    );
  }
  const b = vectors ? readMatrices(op, B, 'B', [...B.shape, 1]) : readMatrices(op, B, 'B');
  return resultLike(B, solveBatch(op, A, a, b), B.shape);
}

/** Solves every `A X = B` of the batch by LU; throws naming the first singular matrix. */
export function solveBatch(op: string, A: Tensor, a: MatrixBatch, b: MatrixBatch): Float64Array {
  const n = a.rows;
  const k = b.columns;
  const x = new Float64Array(b.data.length);
  for (let i = 0; i < a.count; i++) {
    const factors = luFactor(a.data, i * n * n, n);
    if ('singularColumn' in factors) {
      throw new RangeError(
        `${op}: the matrix of shape ${formatShape(A.shape)}${whichMatrix(a, i)} is singular: ` +
          `after partial pivoting, the pivot of column ${factors.singularColumn} is exactly zero`,
      );
    }
    luSolve(factors, n, b.data, i * n * k, k, x, i * n * k);
  }
  return x;
}
