import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import { CurvatureProductExtension } from './curvature-product-extension.js';

/**
 * Hessian-matrix products (BackPACK's `HMP`): after a backward pass with it,
 * each parameter holds `param.hmp`, a function that multiplies its block of
 * the loss Hessian by a batch of matrices `[V, ...param.shape]` and returns
 * `[V, ...param.shape]`. Exact, with every module's second derivatives.
 */
export class HMP extends CurvatureProductExtension {
  readonly name = 'HMP';
  readonly savefield = 'hmp';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('HMP', options, []);
    super('exact');
  }
}
