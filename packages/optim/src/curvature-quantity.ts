import { formatShape, shapesEqual, type Tensor } from '@backpack-ts/core';
import type { NamedParameter } from './parameters.js';

/**
 * The quantity an extension stored on a parameter under `field`, or an error
 * that names the optimiser, the parameter and the extension to run
 * (`KFACPreconditioner: parameter 'fc.weight' has no kfac factors; run
 * backward with extensions: [new KFAC()]`). The extension packages type these
 * fields; reading them by name keeps this package free of them.
 */
export function storedQuantity(owner: string, { name, parameter }: NamedParameter, field: string, what: string, extension: string): unknown {
  const value = (parameter as unknown as Record<string, unknown>)[field];
  if (value === undefined) {
    throw new Error(`${owner}: parameter '${name}' has no ${what}; run backward with extensions: [new ${extension}()]`);
  }
  return value;
}

/** Throws unless `tensor` is alive and has `shape` and the parameter's dtype and backend. */
export function checkQuantityTensor(owner: string, entry: NamedParameter, what: string, tensor: Tensor, shape: readonly number[]): void {
  const { name, parameter } = entry;
  if (tensor.isDisposed) {
    throw new Error(`${owner}: the ${what} of parameter '${name}' was disposed (by zeroGrad, a later backward pass, or the caller); run backward again before stepping`);
  }
  if (!shapesEqual(tensor.shape, shape)) {
    throw new Error(`${owner}: the ${what} of parameter '${name}' has shape ${formatShape(tensor.shape)}, expected ${formatShape(shape)}`);
  }
  const data = parameter.data;
  if (tensor.dtype !== data.dtype || tensor.backend !== data.backend) {
    throw new Error(`${owner}: the ${what} of parameter '${name}' is ${tensor.dtype} on '${tensor.backend.name}', the parameter ${data.dtype} on '${data.backend.name}'`);
  }
}
