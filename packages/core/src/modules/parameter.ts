import type { Tensor } from '../tensor/tensor.js';

/**
 * A trainable tensor of a module, with the results of backward passes.
 *
 * `grad` is core's; extension packages add their own fields to this interface
 * (TypeScript module augmentation), so installing a package is what makes its
 * field exist:
 *
 * ```ts
 * declare module '@backpack-ts/core' {
 *   interface Parameter { gradBatch?: Tensor }
 * }
 * ```
 */
export interface Parameter {
  /** The current value. Replace it (never mutate the tensor) to update the parameter. */
  data: Tensor;
  /** Gradient of the loss, accumulated over backward passes as in PyTorch; reset with `zeroGrad()`. */
  grad: Tensor | undefined;
}

/** Creates a parameter holding `data`. */
export function createParameter(data: Tensor): Parameter {
  return { data, grad: undefined };
}
