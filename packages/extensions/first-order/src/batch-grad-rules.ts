import {
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  Embedding,
  Linear,
  RuleRegistry,
  reshape,
  type GraphNode,
  type ModuleClass,
  type Tensor,
} from '@backpack-ts/core';

/**
 * Per-sample gradient from the module's own derivative: the transposed
 * parameter Jacobian applied to the output gradient, without summing over
 * the batch. Works for every module that implements per-sample
 * `paramJacTMatProd`.
 */
export function perSampleGradient(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  const mat = reshape(gradOutput, [1, ...gradOutput.shape]);
  const perSample = node.module.paramJacTMatProd(node, name, mat, { sumBatch: false });
  return reshape(perSample, perSample.shape.slice(1));
}

/** Core's layers with parameters; each gets {@link perSampleGradient} as its BatchGrad rule. */
export const perSampleModules: readonly ModuleClass[] = [
  Linear,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Embedding,
];

/**
 * The per-sample gradient rules (BatchGrad's registry). Every first-order
 * extension falls back to these, so registering a module here enables all of
 * them for it.
 */
export const batchGradRules = new RuleRegistry<(node: GraphNode, gradOutput: Tensor, name: string) => Tensor>('BatchGrad');
for (const moduleClass of perSampleModules) batchGradRules.register(moduleClass, perSampleGradient);
