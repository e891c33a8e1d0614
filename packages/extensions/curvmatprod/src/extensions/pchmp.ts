import { describeNode, rejectUnknownOptions, type GraphNode, type RecordedGraph } from '@backpack-ts/core';
import { CurvatureProductExtension } from './curvature-product-extension.js';
import { curvatureProductSavefield, type CurvatureProductOptions } from './savefield.js';

/** Options of {@link PCHMP}. */
export interface PCHMPOptions extends CurvatureProductOptions {
  /**
   * How negative curvature in the residual terms is removed (BackPACK's
   * `modify`): `'clip'` sets negative eigenvalues to 0, `'abs'` replaces
   * each eigenvalue by its absolute value (default `'clip'`).
   */
  readonly modify?: 'clip' | 'abs';
}

/**
 * Positive-curvature Hessian-matrix products (BackPACK's `PCHMP`): the
 * Hessian's recursion with each module's residual term `Σ_k g_k ∇²y_k`
 * made positive semi-definite (its eigenvalues clipped at zero or made
 * absolute). After a backward pass with it, each parameter holds
 * `param.pchmp`, multiplying its block by a batch of matrices
 * `[V, ...param.shape]`. With the option `savefield`, clip and abs (as
 * `PCHMP({ modify: 'abs', savefield: 'pchmpAbs' })`) run in one pass.
 *
 * Residuals must be diagonal (elementwise modules; modules linear in their
 * input have none) and parameters affine in their module: a module with a
 * non-diagonal residual (a recurrent layer) or curved in a parameter is
 * refused before the pass, naming it.
 */
export class PCHMP extends CurvatureProductExtension {
  readonly name = 'PCHMP';

  constructor(options: PCHMPOptions = {}) {
    rejectUnknownOptions('PCHMP', options, ['modify', 'savefield']);
    const modify = options.modify ?? 'clip';
    if (modify !== 'clip' && modify !== 'abs') throw new RangeError(`PCHMP: modify must be 'clip' or 'abs', got '${String(modify)}'`);
    super(modify, curvatureProductSavefield('PCHMP', options.savefield, 'pchmp'));
  }

  override check(node: GraphNode, graph: RecordedGraph): void {
    super.check(node, graph);
    const { traits } = node.module;
    if (node !== graph.root && traits.nonDiagonalResidual === true) {
      throw new Error(
        `PCHMP cannot run: the residual term of the Hessian of ${describeNode(node)} is not diagonal, so its eigenvalues are not at hand; ` +
          'use HMP or GGNMP',
      );
    }
    if (node !== graph.root && traits.affineInParameters !== true && node.module.ownTrainableParameters().length > 0) {
      throw new Error(
        `PCHMP cannot run: ${describeNode(node)} is not declared affine in its parameters (trait affineInParameters), ` +
          'so its parameters have residual terms whose eigenvalues are not at hand; use HMP or GGNMP',
      );
    }
  }
}
