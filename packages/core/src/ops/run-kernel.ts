import type { Backend, DType, Shape } from '../backend/backend.js';
import { sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * The one place where core keeps empty tensors away from kernels (the
 * contract says kernels never see one): the result of `call` as a tensor of
 * `shape`, or, when an operand or the result has no elements, `fill` in
 * every element of the result without calling the kernel. `fill` is what the
 * op gives on no elements: 0 for a sum over an empty axis or a matrix
 * product over k = 0 (as PyTorch), the padding value for `pad`; results with
 * no elements ignore it.
 */
export function runKernel(
  backend: Backend,
  operands: readonly Tensor[],
  shape: Shape,
  dtype: DType,
  call: () => unknown,
  fill = 0,
): Tensor {
  const empty = sizeOf(shape) === 0 || operands.some((t) => t.size === 0);
  return new Tensor(backend, empty ? backend.full(shape, fill, dtype) : call(), shape, dtype);
}
