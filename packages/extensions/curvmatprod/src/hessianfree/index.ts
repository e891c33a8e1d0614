export { hessianVectorProduct } from './hessian-vector-product.js';
export { ggnVectorProduct, ggnVectorProductFromParameters } from './ggn-vector-product.js';
export { jacobianVectorProduct } from './jacobian-vector-product.js';
export { transposedJacobianVectorProduct } from './transposed-jacobian-vector-product.js';
export type { Differentiable } from './parameter-vectors.js';
