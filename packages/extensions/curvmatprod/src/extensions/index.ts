import type { ProductQuantity } from '@backpack-ts/core';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** HMP: multiplies the parameter's block of the loss Hessian by `[V, ...param]`, giving `[V, ...param]`. */
    hmp?: ProductQuantity;
    /** GGNMP: multiplies the parameter's block of the GGN by `[V, ...param]`, giving `[V, ...param]`. */
    ggnmp?: ProductQuantity;
    /** PCHMP: multiplies the parameter's block of the positive-curvature Hessian by `[V, ...param]`, giving `[V, ...param]`. */
    pchmp?: ProductQuantity;
  }
}

export { HMP } from './hmp.js';
export { GGNMP } from './ggnmp.js';
export { PCHMP, type PCHMPOptions } from './pchmp.js';
export type { CurvatureProductOptions } from './savefield.js';
export {
  CurvatureProductExtension,
  curvatureProductRule,
  type CurvatureProductRule,
  type CurvatureProductContext,
} from './curvature-product-extension.js';
export type { CurvatureProduct, ResidualTerms } from './curvature-product.js';
