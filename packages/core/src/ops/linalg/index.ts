/**
 * Dense linear algebra with `torch.linalg`'s names: decompositions and solves
 * of small matrices (and batches of them), computed in TypeScript in float64
 * and returned on the input's backend and dtype. None is differentiable: an
 * input that requires gradients while recording is an error.
 *
 * @module
 */
export { cholesky } from './cholesky.js';
export { choleskySolve } from './cholesky-solve.js';
export { eigh, type Eigh } from './eigh.js';
export { qr, type QR } from './qr.js';
export { solve } from './solve.js';
export { inv } from './inv.js';
