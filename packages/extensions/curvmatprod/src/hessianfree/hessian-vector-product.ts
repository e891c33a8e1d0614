import { grad, tidy, zerosLike, type Tensor } from '@backpack-ts/core';
import { checkScalarLoss, checkVectors, differentiableTensors, type Differentiable } from './parameter-vectors.js';

/**
 * The Hessian of the scalar `loss` w.r.t. `inputs` (parameters or tensors
 * that require gradients, jointly) times `vectors`, one per input and shaped
 * like it, as BackPACK's `hessian_vector_product`: by double backward, the
 * gradient of `⟨∇loss, v⟩`. Returns one tensor per input.
 *
 * The recorded graph of `loss` is kept, so that the product can be taken
 * again with other vectors. Where the gradient does not depend on an input
 * (the loss is affine in it) that input's block is zero.
 */
export function hessianVectorProduct(loss: Tensor, inputs: readonly Differentiable[], vectors: readonly Tensor[]): Tensor[] {
  const tensors = differentiableTensors(inputs);
  checkScalarLoss('hessianVectorProduct', loss);
  checkVectors('hessianVectorProduct', tensors, vectors, 'input');
  return hessianColumnProducts(loss, tensors, [vectors])[0]!;
}

/**
 * The Hessian of `loss` w.r.t. `tensors` times each of `columns` (each one
 * tensor per input, shapes already checked), from one gradient computed with
 * `createGraph`: one double-backward pass per column, from the gradients
 * seeded with the column (`∇⟨∇loss, v⟩ = (∂∇loss/∂θ)ᵀ v`), so that neither
 * the inner product nor its derivative is computed.
 */
export function hessianColumnProducts(loss: Tensor, tensors: readonly Tensor[], columns: readonly (readonly Tensor[])[]): Tensor[][] {
  return tidy(() => {
    const gradients = grad(loss, tensors, { createGraph: true }) as Tensor[];
    // A gradient that does not depend on the inputs (the loss is affine in them) contributes nothing.
    const varying = gradients.flatMap((g, i) => (g.requiresGrad ? [i] : []));
    return columns.map((vectors) => {
      if (varying.length === 0) return tensors.map(zerosLike);
      const products = grad(
        varying.map((i) => gradients[i]!),
        tensors,
        { gradOutputs: varying.map((i) => vectors[i]!), retainGraph: true, allowUnused: true },
      );
      return products.map((product, i) => product ?? zerosLike(tensors[i]!));
    });
  });
}
