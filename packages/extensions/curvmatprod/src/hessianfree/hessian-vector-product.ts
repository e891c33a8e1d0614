import { add, grad, mul, sum, tidy, zerosLike, type Tensor } from '@backpack-ts/core';
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
 * `createGraph`: one double-backward pass per column.
 */
export function hessianColumnProducts(loss: Tensor, tensors: readonly Tensor[], columns: readonly (readonly Tensor[])[]): Tensor[][] {
  return tidy(() => {
    const gradients = grad(loss, tensors, { createGraph: true });
    return columns.map((vectors) => {
      const inner = gradients.map((g, i) => sum(mul(g!, vectors[i]!))).reduce((a, b) => add(a, b));
      if (!inner.requiresGrad) return tensors.map(zerosLike);
      const products = grad(inner, tensors, { retainGraph: true, allowUnused: true });
      return products.map((product, i) => product ?? zerosLike(tensors[i]!));
    });
  });
}
