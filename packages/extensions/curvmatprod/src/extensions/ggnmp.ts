import { rejectUnknownOptions } from '@backpack-ts/core';
import { CurvatureProductExtension } from './curvature-product-extension.js';
import { curvatureProductSavefield, type CurvatureProductOptions } from './savefield.js';

/**
 * Generalized Gauss-Newton-matrix products (BackPACK's `GGNMP`): after a
 * backward pass with it, each parameter holds `param.ggnmp`, a function that
 * multiplies its block of the GGN `Jᵀ H_loss J` by a batch of matrices
 * `[V, ...param.shape]` and returns `[V, ...param.shape]` (under another
 * field with the option `savefield`).
 */
export class GGNMP extends CurvatureProductExtension {
  readonly name = 'GGNMP';

  constructor(options: CurvatureProductOptions = {}) {
    rejectUnknownOptions('GGNMP', options, ['savefield']);
    super('none', curvatureProductSavefield('GGNMP', options.savefield, 'ggnmp'));
  }
}
