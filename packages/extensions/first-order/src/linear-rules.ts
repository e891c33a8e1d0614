/**
 * Linear-layer shortcuts. For an input `[N, in]` the per-sample weight
 * gradient is the outer product g_n x_nᵀ, so its square and norm factor into
 * per-sample quantities of g and x: nothing of size `[N, out, in]` is built.
 * With extra dimensions (`[N, ..., in]`) the outer products are summed over
 * the S positions: the norm then goes through the positions' Gram matrices
 * (or chunks of samples, see `factored-gradient.ts`), the square through the
 * per-sample gradients.
 */
import { einsum, mul, permute, reshape, square, sum, type GraphNode, type Linear, type Tensor } from '@backpack-ts/core';
import { perSampleGradient } from './per-sample-gradient.js';
import { factoredBatchL2, type FactoredGradient } from './factored-gradient.js';

/** Whether the Linear call's input has dimensions between batch and features (`[N, ..., in]`). */
export function hasExtraDims(node: GraphNode): boolean {
  return node.input.rank > 2;
}

/** Σ_n (g_n x_nᵀ)² = (g²)ᵀ x²; bias: Σ_n g_n². */
export function linearSumGradSquared(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  if (hasExtraDims(node)) return sum(square(perSampleGradient(node, gradOutput, name)), 0);
  const g2 = square(gradOutput);
  return name === 'bias' ? sum(g2, 0) : einsum('no,ni->oi', g2, square(node.input));
}

/**
 * ‖g_n x_nᵀ‖² = ‖g_n‖² ‖x_n‖²; bias: ‖g_n‖². With S positions,
 * ‖Σ_s g_s x_sᵀ‖² = Σ_{s,t} (g_sᵀ g_t)(x_sᵀ x_t) from the Gram matrices
 * `[N, S, S]` where S² < out·in (`factoredBatchL2`), instead of the
 * per-sample gradients `[N, out, in]`; the bias `[N, out]` per sample.
 */
export function linearBatchL2(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  if (hasExtraDims(node)) {
    if (name === 'weight') return factoredBatchL2(linearGradientFactors(node, gradOutput));
    const perSample = perSampleGradient(node, gradOutput, name);
    return sum(square(perSample), 1);
  }
  const g2 = sum(square(gradOutput), 1);
  return name === 'bias' ? g2 : mul(g2, sum(square(node.input), 1));
}

/**
 * The weight gradient of sample n as a sum over positions (see
 * `factored-gradient.ts`): `Σ_s g[n, s] x[n, s]ᵀ`, one position for an input
 * `[N, in]`, S for `[N, ..., in]`.
 */
export function linearGradientFactors(node: GraphNode, gradOutput: Tensor): FactoredGradient {
  const module = node.module as Linear;
  const n = node.batchSize;
  const [inFeatures, outFeatures] = [module.inFeatures, module.outFeatures];
  if (!hasExtraDims(node)) {
    return {
      left: reshape(gradOutput, [n, 1, outFeatures, 1]),
      right: reshape(node.input, [n, 1, inFeatures, 1]),
      shape: module.weight.data.shape,
    };
  }
  const g = reshape(gradOutput, [n, -1, outFeatures]);
  const x = reshape(node.input, [n, -1, inFeatures]);
  const positions = g.shape[1]!;
  return {
    left: reshape(permute(g, [0, 2, 1]), [n, 1, outFeatures, positions]),
    right: reshape(permute(x, [0, 2, 1]), [n, 1, inFeatures, positions]),
    shape: module.weight.data.shape,
  };
}
