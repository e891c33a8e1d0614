import { CrossEntropyLoss, mul, reshape, type LossModule, type Module, type Tensor } from '@backpack-ts/core';
import { CurvatureOperator, type BatchPass, type CurvatureOperatorOptions } from './curvature-operator.js';
import type { DataSet } from './data-set.js';
import { sqrtCurvatureProduct } from './sqrt-curvature-product.js';

/**
 * The factor c of the reduction, the loss being `c Σ ℓ_terms`: 1 for 'sum';
 * for 'mean' one over the number of terms (CrossEntropyLoss: one per
 * position, `N·d1·…`; the other losses: one per element of the prediction).
 */
function reductionFactor(lossFunction: LossModule, prediction: Tensor): number {
  if (lossFunction.reduction !== 'mean') return 1;
  const terms = lossFunction instanceof CrossEntropyLoss ? prediction.size / prediction.shape[1]! : prediction.size;
  return 1 / terms;
}

/**
 * The empirical Fisher (uncentred gradient covariance) over a data set, as
 * curvlinops' `EFLinearOperator`: `c Σ_n ∇ℓ_n ∇ℓ_nᵀ`, where the loss is
 * `c Σ_n ℓ_n` (c = 1 for 'sum', one over the number of loss terms for
 * 'mean') and ℓ_n is sample n's loss. Per batch it is `Σ_n J_nᵀ g_n g_nᵀ J_n / c`
 * with `g_n` the gradient of the batch loss w.r.t. sample n's output.
 */
export class EmpiricalFisherOperator extends CurvatureOperator {
  constructor(model: Module, lossFunction: LossModule, data: DataSet, options: CurvatureOperatorOptions = {}) {
    super('EmpiricalFisherOperator', model, lossFunction, data, options, []);
  }

  protected batchProduct({ output, lossNode, tensors }: BatchPass, blocks: readonly Tensor[]): Tensor[] {
    const gradient = this.lossFunction.gradient(lossNode);
    const sqrt = mul(reshape(gradient, [1, ...gradient.shape]), 1 / Math.sqrt(reductionFactor(this.lossFunction, output)));
    return sqrtCurvatureProduct(output, sqrt, tensors, blocks);
  }
}
