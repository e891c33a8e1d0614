import { formatShape, shapesEqual } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { assertSameKind, readMatrices, readSquareMatrices, resultLike, whichMatrix } from './matrices.js';

/**
 * The solution `X` of `A X = B` given the lower Cholesky factor `L` of
 * `A = L Lᵀ` (`torch.cholesky_solve(B, L)`, lower; note the argument order,
 * PyTorch's): `B` is `[..., n, k]` and `L` is `[..., n, n]` with the same
 * batch dimensions (no broadcasting); only `L`'s lower triangle is read. `X`
 * has `B`'s shape, backend and dtype.
 *
 * Throws when `L` has a zero on its diagonal. Not differentiable.
 */
export function choleskySolve(B: Tensor, L: Tensor): Tensor {
  const op = 'linalg.choleskySolve';
  const l = readSquareMatrices(op, L, 'L');
  assertSameKind(op, [B, L]);
  const b = readMatrices(op, B, 'B');
  const n = l.rows;
  if (b.rows !== n || !shapesEqual(b.batchShape, l.batchShape)) {
    throw new RangeError(
      `${op}: B of shape ${formatShape(B.shape)} does not fit L of shape ${formatShape(L.shape)}: B must be [...batch, ${n}, k] with L's batch dimensions [${l.batchShape.join(', ')}]`,
    );
  }
  const k = b.columns;
  const x = Float64Array.from(b.data);
  for (let m = 0; m < l.count; m++) {
    const lo = m * n * n;
    const xo = m * n * k;
    for (let i = 0; i < n; i++) {
      if (l.data[lo + i * n + i] === 0) {
        throw new RangeError(`${op}: L of shape ${formatShape(L.shape)}${whichMatrix(l, m)} has a zero on its diagonal at ${i}; it is not a Cholesky factor`);
      }
    }
    // L Y = B, then Lᵀ X = Y, in place.
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) {
        const lij = l.data[lo + i * n + j]!;
        for (let c = 0; c < k; c++) x[xo + i * k + c]! -= lij * x[xo + j * k + c]!;
      }
      const lii = l.data[lo + i * n + i]!;
      for (let c = 0; c < k; c++) x[xo + i * k + c]! /= lii;
    }
    for (let i = n - 1; i >= 0; i--) {
      for (let j = i + 1; j < n; j++) {
        const lji = l.data[lo + j * n + i]!;
        for (let c = 0; c < k; c++) x[xo + i * k + c]! -= lji * x[xo + j * k + c]!;
      }
      const lii = l.data[lo + i * n + i]!;
      for (let c = 0; c < k; c++) x[xo + i * k + c]! /= lii;
    }
  }
  return resultLike(B, x, B.shape);
}
