import type { LossModule, Module, Tensor } from '@backpack-ts/core';
import { CurvatureOperator, type BatchPass, type CurvatureOperatorOptions } from './curvature-operator.js';
import type { DataSet } from './data-set.js';
import { sqrtCurvatureProduct } from './sqrt-curvature-product.js';

/**
 * The generalized Gauss-Newton matrix `Σ_n J_nᵀ H_n J_n` of the loss over a
 * data set (J_n the Jacobian of the model output of sample n w.r.t. the
 * parameters, H_n the loss Hessian w.r.t. that output), as curvlinops'
 * `GGNLinearOperator`: per column an R-op, the loss's exact Hessian square
 * root (`sqrtHessian`), and an L-op.
 */
export class GGNOperator extends CurvatureOperator {
  constructor(model: Module, lossFunction: LossModule, data: DataSet, options: CurvatureOperatorOptions = {}) {
    super('GGNOperator', model, lossFunction, data, options, []);
  }

  protected batchProduct({ output, lossNode, tensors }: BatchPass, blocks: readonly Tensor[]): Tensor[] {
    return sqrtCurvatureProduct(output, this.lossFunction.sqrtHessian(lossNode), tensors, blocks);
  }
}
