import { jvp, type Tensor } from '@backpack-ts/core';
import { checkVectors, differentiableTensors, type Differentiable } from './parameter-vectors.js';

/**
 * The R-operator (BackPACK's `R_op`): the Jacobian of each of `outputs`
 * w.r.t. `inputs` times `vectors`, one per input and shaped like it,
 * `Σ_i J_i v_i`, by forward mode over the recorded graph (core's `jvp`).
 * Returns one tensor per output, shaped like it (zero for an output that
 * depends on none of the inputs). The graph is left as it was.
 */
export function jacobianVectorProduct(
  outputs: readonly Tensor[],
  inputs: readonly Differentiable[],
  vectors: readonly Tensor[],
): Tensor[] {
  const tensors = differentiableTensors(inputs);
  checkVectors('jacobianVectorProduct', tensors, vectors, 'input');
  return jvp(outputs, tensors, vectors);
}
