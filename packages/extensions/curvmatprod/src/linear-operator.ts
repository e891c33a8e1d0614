import type { Backend, FloatDType, Tensor } from '@backpack-ts/core';

/**
 * A matrix known only by its products: the contract between the curvature
 * operators (Hessian, GGN, Fisher, KFAC, Jacobians) and the algorithms that
 * use them (trace and diagonal estimation, Lanczos, CG).
 *
 * Vectors over parameters are the parameters' entries flattened and
 * concatenated in the operator's parameter order, as curvlinops does.
 */
export interface LinearOperator {
  /** `[rows, columns]`. Curvature operators are square and symmetric. */
  readonly shape: readonly [number, number];
  /** The dtype of the vectors it takes and returns. */
  readonly dtype: FloatDType;
  /** The backend of the vectors it takes and returns. */
  readonly backend: Backend;
  /**
   * The product with a batch of vectors: `x` is `[columns, K]` (or `[columns]`
   * for one vector) and the result `[rows, K]` (or `[rows]`). The result is
   * the caller's to dispose; `x` is left as it was.
   */
  matmat(x: Tensor): Tensor;
}

/**
 * Refuses `x` for `name.matmat` unless it has the operator's dtype and
 * backend; `whose` says what fixed them (`'the parameters'`, `'the factors'`).
 */
export function checkOperand(name: string, operator: LinearOperator, x: Tensor, whose: string): void {
  if (x.dtype !== operator.dtype || x.backend !== operator.backend) {
    throw new TypeError(`${name}.matmat: x is ${x.dtype} on '${x.backend.name}', ${whose} ${operator.dtype} on '${operator.backend.name}'`);
  }
}
