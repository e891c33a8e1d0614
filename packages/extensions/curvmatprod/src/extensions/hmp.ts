import { LeafModule, describeNode, rejectUnknownOptions, type GraphNode, type RecordedGraph } from '@backpack-ts/core';
import { CurvatureProductExtension } from './curvature-product-extension.js';
import { curvatureProductSavefield, type CurvatureProductOptions } from './savefield.js';

/**
 * Hessian-matrix products (BackPACK's `HMP`): after a backward pass with it,
 * each parameter holds `param.hmp`, a function that multiplies its block of
 * the loss Hessian by a batch of matrices `[V, ...param.shape]` and returns
 * `[V, ...param.shape]` (under another field with the option `savefield`).
 * Exact, with every module's second derivatives.
 *
 * A module with parameters needs their second derivatives: it declares the
 * trait `affineInParameters` or overrides `paramResidualHessianMatProd`;
 * one that does neither is refused before the pass, naming it.
 */
export class HMP extends CurvatureProductExtension {
  readonly name = 'HMP';

  constructor(options: CurvatureProductOptions = {}) {
    rejectUnknownOptions('HMP', options, ['savefield']);
    super('exact', curvatureProductSavefield('HMP', options.savefield, 'hmp'));
  }

  override check(node: GraphNode, graph: RecordedGraph): void {
    super.check(node, graph);
    const { module } = node;
    const ownSecondDerivative = module.paramResidualHessianMatProd !== LeafModule.prototype.paramResidualHessianMatProd;
    if (node !== graph.root && module.traits.affineInParameters !== true && !ownSecondDerivative && module.ownTrainableParameters().length > 0) {
      throw new Error(
        `HMP cannot run: ${describeNode(node)} gives no second derivative w.r.t. its parameters; ` +
          'declare the trait affineInParameters if its output is affine in them, or override paramResidualHessianMatProd',
      );
    }
  }
}
