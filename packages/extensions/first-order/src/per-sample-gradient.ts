import { reshape, type GraphNode, type Tensor } from '@backpack-ts/core';

/**
 * Per-sample gradient from the module's own derivative: the transposed
 * parameter Jacobian applied to the output gradient, without summing over
 * the batch, `[N, ...param]`. Needs a module that declares the trait
 * `perSampleParameterJacobian`.
 */
export function perSampleGradient(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  const mat = reshape(gradOutput, [1, ...gradOutput.shape]);
  const perSample = node.module.paramJacTMatProd(node, name, mat, { sumBatch: false });
  return reshape(perSample, perSample.shape.slice(1));
}
