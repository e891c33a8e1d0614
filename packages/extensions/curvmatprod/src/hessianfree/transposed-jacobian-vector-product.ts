import { grad, tidy, zerosLike, type Tensor } from '@backpack-ts/core';
import { checkVectors, differentiableTensors, type Differentiable } from './parameter-vectors.js';

/**
 * The L-operator (BackPACK's `L_op`): the transposed Jacobian of `outputs`
 * w.r.t. `inputs` times `vectors`, one per output and shaped like it,
 * `Σ_j J_jᵀ v_j`. Returns one tensor per input, zero where the outputs do not
 * depend on it. The recorded graph is kept for further products.
 */
export function transposedJacobianVectorProduct(
  outputs: readonly Tensor[],
  inputs: readonly Differentiable[],
  vectors: readonly Tensor[],
): Tensor[] {
  const tensors = differentiableTensors(inputs);
  checkVectors('transposedJacobianVectorProduct', outputs, vectors, 'output');
  return tidy(() => {
    const products = grad(outputs, tensors, { gradOutputs: vectors, retainGraph: true, allowUnused: true });
    return products.map((product, i) => product ?? zerosLike(tensors[i]!));
  });
}
