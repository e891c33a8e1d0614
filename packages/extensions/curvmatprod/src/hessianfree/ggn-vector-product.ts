import { formatShape, tidy, type Module, type Tensor } from '@backpack-ts/core';
import { hessianVectorProduct } from './hessian-vector-product.js';
import { jacobianVectorProduct } from './jacobian-vector-product.js';
import { checkScalarLoss, checkVectors, differentiableTensors, type Differentiable } from './parameter-vectors.js';
import { transposedJacobianVectorProduct } from './transposed-jacobian-vector-product.js';

/**
 * The generalized Gauss-Newton matrix of `loss` w.r.t. `inputs` times
 * `vectors` (one per input, shaped like it), as BackPACK's
 * `ggn_vector_product_from_plist`: `Jᵀ H J v`, where J is the Jacobian of the
 * model's `output` w.r.t. the inputs and H the Hessian of `loss` w.r.t.
 * `output`. Three passes over the recorded graph: `J v` (R-op), `H (J v)`
 * (double backward from the loss to the output), `Jᵀ (H J v)` (L-op).
 * Returns one tensor per input; the graph is kept for further products.
 */
export function ggnVectorProductFromParameters(
  loss: Tensor,
  output: Tensor,
  inputs: readonly Differentiable[],
  vectors: readonly Tensor[],
): Tensor[] {
  const caller = 'ggnVectorProductFromParameters';
  checkScalarLoss(caller, loss);
  output.assertAlive(`${caller} (output)`);
  if (!output.requiresGrad) {
    throw new Error(`${caller}: output (shape ${formatShape(output.shape)}) was not recorded as depending on the inputs; pass the model's output, computed from them`);
  }
  checkVectors(caller, differentiableTensors(inputs), vectors, 'input');
  return tidy(() => {
    const [jv] = jacobianVectorProduct([output], inputs, vectors);
    const [hjv] = hessianVectorProduct(loss, [output], [jv!]);
    return transposedJacobianVectorProduct([output], inputs, [hjv!]);
  });
}

/**
 * {@link ggnVectorProductFromParameters} over every parameter of `model`
 * that requires gradients, in `model.parameters()` order (BackPACK's
 * `ggn_vector_product`): `vectors` holds one tensor per such parameter.
 */
export function ggnVectorProduct(loss: Tensor, output: Tensor, model: Module, vectors: readonly Tensor[]): Tensor[] {
  const parameters = model.parameters().filter((parameter) => parameter.requiresGrad);
  return ggnVectorProductFromParameters(loss, output, parameters, vectors);
}
