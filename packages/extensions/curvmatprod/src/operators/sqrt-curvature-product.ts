import { mul, reshape, sum, type Tensor } from '@backpack-ts/core';
import { jacobianVectorProduct } from '../hessianfree/jacobian-vector-product.js';
import { transposedJacobianVectorProduct } from '../hessianfree/transposed-jacobian-vector-product.js';

/**
 * `Jᵀ (Σ_m s_m s_mᵀ) J v` for each column v, per sample: J is the Jacobian
 * of `output` `[N, ...]` w.r.t. `tensors` and `sqrt` `[M, N, ...]` holds M
 * vectors per sample whose outer products make the curvature w.r.t. the
 * output (the loss Hessian's square root, sampled or exact; gradients for the
 * empirical Fisher). One R-op and one L-op per column.
 */
export function sqrtCurvatureProduct(output: Tensor, sqrt: Tensor, tensors: readonly Tensor[], columns: readonly (readonly Tensor[])[]): Tensor[][] {
  const [m, n] = [sqrt.shape[0]!, output.shape[0] ?? 1];
  const perSample = output.size / n;
  const s = reshape(sqrt, [m, n, perSample]);
  return columns.map((vectors) => {
    const [jv] = jacobianVectorProduct([output], tensors, vectors);
    const dots = sum(mul(s, reshape(jv!, [1, n, perSample])), 2, true); // [M, N, 1]
    const curved = reshape(sum(mul(s, dots), 0), output.shape);
    return transposedJacobianVectorProduct([output], tensors, [curved]);
  });
}
