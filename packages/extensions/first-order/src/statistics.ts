import { div, reshape, square, sub, sum, type GraphNode, type Tensor } from '@backpack-ts/core';

/** Σ_n g_n², over the leading batch dimension. */
export function sumOfSquares(gradBatch: Tensor): Tensor {
  return sum(square(gradBatch), 0);
}

/** ‖g_n‖² for each sample: `[N, ...] -> [N]`. */
export function squaredNorms(gradBatch: Tensor): Tensor {
  return sum(square(reshape(gradBatch, [gradBatch.shape[0]!, -1])), 1);
}

/**
 * Variance of the per-sample gradients over the batch,
 * `(1/N) Σ g_n² - ((1/N) Σ g_n)²`, from the sum of squares and the summed
 * gradient (N is the batch size, whatever the loss's reduction).
 *
 * This is the reference's formula. It cancels catastrophically when the
 * per-sample gradients are close to their mean (relative error about
 * `eps · mean² / variance`, which float32 cannot afford), so the extensions
 * evaluate it in float64 only (where the cancellation costs at most a few of
 * its 16 digits; float32 Linear layers cast their factors to float64 for it)
 * and use {@link centeredVariance} for the rest of float32 (see `varianceRule`).
 */
export function varianceFrom(sumGradSquared: Tensor, grad: Tensor, batchSize: number): Tensor {
  return sub(div(sumGradSquared, batchSize), square(div(grad, batchSize)));
}

/**
 * `(1/N) Σ_n (g_n - ḡ)²` from the per-sample gradients `[N, ...]`, with the
 * mean ḡ subtracted before squaring: no cancellation.
 */
export function centeredVariance(gradBatch: Tensor): Tensor {
  const n = gradBatch.shape[0]!;
  const centered = sub(gradBatch, div(sum(gradBatch, 0), n));
  return div(sum(square(centered), 0), n);
}

/** The summed gradient of the module's parameter `name` (the node's contribution to `.grad`). */
export function summedGradient(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  const mat = reshape(gradOutput, [1, ...gradOutput.shape]);
  const grad = node.module.paramJacTMatProd(node, name, mat, { sumBatch: true });
  return reshape(grad, grad.shape.slice(1));
}
