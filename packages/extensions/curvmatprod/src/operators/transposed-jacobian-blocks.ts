import { select, stack, type Tensor } from '@backpack-ts/core';
import { transposedJacobianVectorProduct } from '../hessianfree/transposed-jacobian-vector-product.js';

/**
 * The transposed Jacobian of `output` w.r.t. `tensors` times K vectors
 * `cotangents` `[K, ...output]`: one block `[K, ...shape]` per tensor, one
 * L-op (backward pass) per vector.
 */
export function transposedJacobianBlocks(output: Tensor, tensors: readonly Tensor[], cotangents: Tensor): Tensor[] {
  const k = cotangents.shape[0]!;
  const products = Array.from({ length: k }, (_, column) => transposedJacobianVectorProduct([output], tensors, [select(cotangents, 0, column)]));
  return tensors.map((_, i) => stack(products.map((product) => product[i]!)));
}
