import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import { CurvatureProductExtension } from './curvature-product-extension.js';

/**
 * Generalized Gauss-Newton-matrix products (BackPACK's `GGNMP`): after a
 * backward pass with it, each parameter holds `param.ggnmp`, a function that
 * multiplies its block of the GGN `Jᵀ H_loss J` by a batch of matrices
 * `[V, ...param.shape]` and returns `[V, ...param.shape]`.
 */
export class GGNMP extends CurvatureProductExtension {
  readonly name = 'GGNMP';
  readonly savefield = 'ggnmp';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('GGNMP', options, []);
    super('none');
  }
}
