/**
 * @backpack-ts/diag-hessian: the exact diagonal of the loss Hessian w.r.t.
 * every parameter, summed over the batch (DiagHessian) and per sample
 * (BatchDiagHessian), in the same backward pass as the gradient.
 *
 * Importing this package adds the typed fields `diagH` and `diagHBatch` to
 * core's `Parameter`.
 *
 * The parameter owns these fields: the next backward pass that computes one
 * replaces it and disposes the previous tensors, so a value read from a field
 * is valid until then (a later use throws, naming that pass). Keep a copy
 * with `clone()` to hold it across passes (see core's `Parameter`).
 *
 * @module \@backpack-ts/diag-hessian
 */
import type { Tensor } from '@backpack-ts/core';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** DiagHessian: diagonal of the loss Hessian w.r.t. this parameter, `[...param]`. */
    diagH?: Tensor;
    /** BatchDiagHessian: per-sample Hessian diagonals `[N, ...param]` (they sum to `diagH`). */
    diagHBatch?: Tensor;
  }
}

export { DiagHessian, BatchDiagHessian, HessianDiagonalExtension } from './diag-hessian.js';
export {
  affineInParametersRule,
  linearHessianRule,
  parameterFreeHessianRule,
  type HessianRule,
} from './rules.js';
export { recurrentHessianRule, DIRECTIONS_PER_PASS } from './recurrent-rules.js';
export {
  backpropFactor,
  backpropFactors,
  mergeFactors,
  parameterDiagonal,
  residualFactor,
  toDense,
  type DenseFactor,
  type DiagonalFactor,
  type FactorOrigin,
  type SqrtFactor,
  type SqrtFactors,
} from './sqrt-factors.js';
