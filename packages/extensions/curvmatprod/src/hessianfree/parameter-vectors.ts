import { formatShape, shapesEqual, type Parameter, type Tensor } from '@backpack-ts/core';

/** What the Hessian-free products differentiate w.r.t.: a module's parameters or any tensors that require gradients. */
export type Differentiable = Parameter | Tensor;

function isTensor(value: Differentiable): value is Tensor {
  return (value as Partial<Tensor>).isTensor === true;
}

/** The tensors behind `inputs`: a parameter's current `data`, a tensor itself. */
export function differentiableTensors(inputs: readonly Differentiable[]): Tensor[] {
  return inputs.map((input) => (isTensor(input) ? input : input.data));
}

/**
 * Throws, naming `caller`, the position and both shapes, unless there is one
 * vector per tensor and each has its tensor's shape, dtype and backend.
 * `what` names the tensors in messages (`'parameter'`, `'output'`).
 */
export function checkVectors(caller: string, tensors: readonly Tensor[], vectors: readonly Tensor[], what: string): void {
  if (vectors.length !== tensors.length) {
    throw new RangeError(`${caller}: got ${vectors.length} vectors for ${tensors.length} ${what}s; give one vector per ${what}, shaped like it`);
  }
  tensors.forEach((tensor, i) => {
    const vector = vectors[i]!;
    vector.assertAlive(`${caller} (vector ${i})`);
    if (!shapesEqual(vector.shape, tensor.shape)) {
      throw new RangeError(`${caller}: vector ${i} has shape ${formatShape(vector.shape)}, but ${what} ${i} has shape ${formatShape(tensor.shape)}`);
    }
    if (vector.dtype !== tensor.dtype || vector.backend !== tensor.backend) {
      throw new TypeError(
        `${caller}: vector ${i} is ${vector.dtype} on '${vector.backend.name}', but ${what} ${i} is ${tensor.dtype} on '${tensor.backend.name}'`,
      );
    }
  });
}

/** Throws, naming `caller` and the shape, unless `loss` has one element (a reduced loss). */
export function checkScalarLoss(caller: string, loss: Tensor): void {
  loss.assertAlive(`${caller} (loss)`);
  if (loss.size !== 1) {
    throw new RangeError(`${caller}: loss must be a scalar (one element), got shape ${formatShape(loss.shape)}; use a loss with reduction 'mean' or 'sum'`);
  }
}
