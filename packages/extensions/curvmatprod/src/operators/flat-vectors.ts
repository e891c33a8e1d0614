import { concat, formatShape, reshape, sizeOf, slice, type Tensor } from '@backpack-ts/core';
import { differentiableTensors, type Differentiable } from '../hessianfree/parameter-vectors.js';

/**
 * One vector `[P]` from tensors shaped like parameters (per-parameter
 * vectors, gradients): each flattened row-major, concatenated in order, the
 * layout of every {@link LinearOperator} over parameters.
 */
export function flattenTensors(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new RangeError('flattenTensors: no tensors to flatten');
  return concat(
    tensors.map((t) => reshape(t, [t.size])),
    0,
  );
}

/**
 * The inverse of {@link flattenTensors}: `vector` `[P]` split into one tensor
 * per entry of `like` (parameters or tensors), shaped like it.
 */
export function unflattenVector(vector: Tensor, like: readonly Differentiable[]): Tensor[] {
  const shapes = differentiableTensors(like).map((t) => t.shape);
  const total = shapes.reduce((s, shape) => s + sizeOf(shape), 0);
  if (vector.rank !== 1 || vector.size !== total) {
    throw new RangeError(`unflattenVector: expected a vector of ${total} entries (the parameters' sizes summed), got shape ${formatShape(vector.shape)}`);
  }
  let offset = 0;
  return shapes.map((shape) => {
    const size = sizeOf(shape);
    const part = reshape(slice(vector, [offset], [size]), shape);
    offset += size;
    return part;
  });
}
