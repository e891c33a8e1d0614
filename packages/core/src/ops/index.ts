export * from './create.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './layout.js';
export * from './matmul.js';
export * from './einsum.js';
export * from './nn.js';
export * from './window.js';
export { assertFloat, isFloat } from './check.js';
