import { einsum, mul, reshape, square, sum, type GraphNode, type Tensor } from '@backpack-ts/core';
import { perSampleGradient } from './batch-grad-rules.js';

/**
 * Linear-layer shortcuts. For an input `[N, in]` the per-sample weight
 * gradient is the outer product g_n x_nᵀ, so its square and norm factor into
 * per-sample quantities of g and x: nothing of size `[N, out, in]` is built.
 * With extra dimensions (`[N, ..., in]`) the outer products are summed and no
 * longer factor; those inputs take the per-sample gradient path.
 */
function hasExtraDims(node: GraphNode): boolean {
  return node.input.rank > 2;
}

/** Σ_n (g_n x_nᵀ)² = (g²)ᵀ x²; bias: Σ_n g_n². */
export function linearSumGradSquared(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  if (hasExtraDims(node)) return sum(square(perSampleGradient(node, gradOutput, name)), 0);
  const g2 = square(gradOutput);
  return name === 'bias' ? sum(g2, 0) : einsum('no,ni->oi', g2, square(node.input));
}

/** ‖g_n x_nᵀ‖² = ‖g_n‖² ‖x_n‖²; bias: ‖g_n‖². */
export function linearBatchL2(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  if (hasExtraDims(node)) {
    const perSample = perSampleGradient(node, gradOutput, name);
    return sum(square(reshape(perSample, [perSample.shape[0]!, -1])), 1);
  }
  const g2 = sum(square(gradOutput), 1);
  return name === 'bias' ? g2 : mul(g2, sum(square(node.input), 1));
}
