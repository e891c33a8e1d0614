import { assertFloat, formatShape, matmul, noGrad, reshape, type Backend, type FloatDType, type Tensor } from '@backpack-ts/core';
import { checkOperand, type LinearOperator } from '../linear-operator.js';

/**
 * An explicit square matrix seen as a {@link LinearOperator}: to run the
 * algorithms on a matrix one has (a small model's dense Hessian, a test
 * matrix). The algorithms assume it is symmetric, as curvature is; that is
 * not checked. Products are not recorded for gradients.
 */
export class DenseOperator implements LinearOperator {
  /** `[n, n]`. */
  readonly shape: readonly [number, number];
  /** The matrix's dtype. */
  readonly dtype: FloatDType;
  /** The matrix's backend. */
  readonly backend: Backend;

  /** `matrix` is `[n, n]`, float32 or float64; the operator keeps a reference to it (not a copy). */
  constructor(
    /** The matrix, as given (not copied). */
    readonly matrix: Tensor,
  ) {
    this.dtype = assertFloat('DenseOperator', matrix);
    if (matrix.rank !== 2 || matrix.shape[0] !== matrix.shape[1]) {
      throw new RangeError(`DenseOperator: the matrix must be square [n, n], got shape ${formatShape(matrix.shape)}`);
    }
    this.shape = [matrix.shape[0]!, matrix.shape[1]!];
    this.backend = matrix.backend;
  }

  /** The product with `x` of shape `[n, K]` or `[n]`. */
  matmat(x: Tensor): Tensor {
    const n = this.shape[1];
    if ((x.rank !== 1 && x.rank !== 2) || x.shape[0] !== n) {
      throw new RangeError(`DenseOperator.matmat: x must be [${n}, K] or [${n}], got shape ${formatShape(x.shape)}`);
    }
    checkOperand('DenseOperator', this, x, 'the matrix');
    return noGrad(() => {
      if (x.rank === 2) return matmul(this.matrix, x);
      const column = reshape(x, [n, 1]);
      const product = matmul(this.matrix, column);
      const result = reshape(product, [n]);
      column.dispose();
      product.dispose();
      return result;
    });
  }
}

/** Wraps an explicit symmetric `[n, n]` matrix as a {@link LinearOperator} (a {@link DenseOperator}). */
export function denseOperator(matrix: Tensor): DenseOperator {
  return new DenseOperator(matrix);
}
