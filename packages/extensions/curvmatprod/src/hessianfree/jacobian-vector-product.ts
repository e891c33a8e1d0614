import { add, grad, mul, sum, tidy, zerosLike, type Tensor } from '@backpack-ts/core';
import { checkVectors, differentiableTensors, type Differentiable } from './parameter-vectors.js';

/**
 * The R-operator (BackPACK's `R_op`): the Jacobian of each of `outputs`
 * w.r.t. `inputs` times `vectors`, one per input and shaped like it,
 * `Σ_i J_i v_i`. Returns one tensor per output, shaped like it (zero for an
 * output that depends on none of the inputs). The recorded graph is kept for
 * further products.
 */
export function jacobianVectorProduct(
  outputs: readonly Tensor[],
  inputs: readonly Differentiable[],
  vectors: readonly Tensor[],
): Tensor[] {
  const tensors = differentiableTensors(inputs);
  checkVectors('jacobianVectorProduct', tensors, vectors, 'input');
  return tidy(() => {
    // Jᵀu is linear in u, so the gradient of ⟨Jᵀu, v⟩ w.r.t. u is Jv (the "double-backward trick").
    const dummies = outputs.map((output) => zerosLike(output).requiresGrad_());
    const transposed = grad(outputs, tensors, { gradOutputs: dummies, createGraph: true, allowUnused: true });
    const terms = transposed.flatMap((g, i) => (g === undefined ? [] : [sum(mul(g, vectors[i]!))]));
    const inner = terms.length === 0 ? undefined : terms.reduce((a, b) => add(a, b));
    if (inner === undefined || !inner.requiresGrad) return outputs.map(zerosLike);
    const products = grad(inner, dummies, { retainGraph: true, allowUnused: true });
    return products.map((product, i) => product ?? zerosLike(outputs[i]!));
  });
}
