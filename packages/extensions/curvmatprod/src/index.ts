/**
 * @backpack-ts/curvmatprod: products with the curvature of the loss.
 *
 * - Hessian-free products (BackPACK's `hessianfree`): Hessian-, GGN-,
 *   Jacobian- and transposed-Jacobian-vector products.
 * - Curvature-matrix-product extensions (BackPACK's `curvmatprod`): HMP,
 *   GGNMP and PCHMP, stored on each parameter by one backward pass.
 * - Curvature linear operators on a data set (after curvlinops) and the
 *   algorithms that take any {@link LinearOperator}.
 *
 * @module \@backpack-ts/curvmatprod
 */
export type { LinearOperator } from './linear-operator.js';
export * from './hessianfree/index.js';
export * from './extensions/index.js';
export * from './operators/index.js';
export * from './algorithms/index.js';
