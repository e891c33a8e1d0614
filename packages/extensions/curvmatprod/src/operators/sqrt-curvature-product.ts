import { einsum, jvp, reshape, type Tensor } from '@backpack-ts/core';
import { transposedJacobianBlocks } from './transposed-jacobian-blocks.js';

/**
 * `Jᵀ (Σ_m s_m s_mᵀ) J V` per sample: J is the Jacobian of `output`
 * `[N, ...]` w.r.t. `tensors` and `sqrt` `[M, N, ...]` holds M vectors per
 * sample whose outer products make the curvature w.r.t. the output (the loss
 * Hessian's square root, sampled or exact; gradients for the empirical
 * Fisher). V is K vectors, one block `[K, ...shape]` per tensor, and so is the
 * result. One batched R-op for all K, one L-op per vector.
 */
export function sqrtCurvatureProduct(output: Tensor, sqrt: Tensor, tensors: readonly Tensor[], blocks: readonly Tensor[]): Tensor[] {
  const [m, n, k] = [sqrt.shape[0]!, output.shape[0] ?? 1, blocks[0]!.shape[0]!];
  const perSample = output.size / n;
  const s = reshape(sqrt, [m, n, perSample]);
  const [jv] = jvp([output], tensors, blocks, { batched: true });
  const dots = einsum('mnd,knd->kmn', s, reshape(jv!, [k, n, perSample]));
  const curved = reshape(einsum('kmn,mnd->knd', dots, s), [k, ...output.shape]);
  return transposedJacobianBlocks(output, tensors, curved);
}
