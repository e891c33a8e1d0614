import { select, stack, type LossModule, type Module, type Tensor } from '@backpack-ts/core';
import { hessianColumnProducts } from '../hessianfree/hessian-vector-product.js';
import { CurvatureOperator, type BatchPass, type CurvatureOperatorOptions } from './curvature-operator.js';
import type { DataSet } from './data-set.js';

/**
 * The Hessian of the loss over a data set w.r.t. the parameters (all that
 * require gradients, or `options.parameters`), as curvlinops'
 * `HessianLinearOperator`: each column by double backward on every batch.
 */
export class HessianOperator extends CurvatureOperator {
  constructor(model: Module, lossFunction: LossModule, data: DataSet, options: CurvatureOperatorOptions = {}) {
    super('HessianOperator', model, lossFunction, data, options, []);
  }

  protected batchProduct({ loss, tensors }: BatchPass, blocks: readonly Tensor[]): Tensor[] {
    const k = blocks[0]!.shape[0]!;
    const columns = Array.from({ length: k }, (_, column) => blocks.map((block) => select(block, 0, column)));
    const products = hessianColumnProducts(loss, tensors, columns);
    return tensors.map((_, i) => stack(products.map((product) => product[i]!)));
  }
}
