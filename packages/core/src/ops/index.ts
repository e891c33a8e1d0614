export * from './create.js';
export * from './elementwise.js';
export * from './reduce.js';
export { broadcastTo } from './sum.js';
export * from './layout.js';
export * from './matmul.js';
export * from './einsum.js';
export * from './nn.js';
export * from './window.js';
export { conv, convTranspose, convWeightGrad } from './conv.js';
export { assertFloat, isFloat } from './check.js';
export * from './select.js';
/**
 * Dense linear algebra with `torch.linalg`'s names (`linalg.cholesky`,
 * `linalg.eigh`, `linalg.qr`, `linalg.solve`, `linalg.inv`,
 * `linalg.choleskySolve`), in float64 on the data; not differentiable.
 */
export * as linalg from './linalg/index.js';
