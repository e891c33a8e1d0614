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
  /** The current value. Replace it (never mutate the tensor) to update the parameter; each replacement increments `version`. */
  data: Tensor;
  /** Gradient of the loss, accumulated over backward passes as in PyTorch; reset with `zeroGrad()`. */
  grad: Tensor | undefined;
  /**
   * Whether backward passes compute anything for it (default true). A frozen
   * parameter (`false`, PyTorch's `requires_grad_(False)`) gets no `.grad`
   * and no extension quantity, and no work is done for it.
   */
  requiresGrad: boolean;
  /**
   * How many times `data` was replaced (PyTorch's version counter). A forward
   * pass records it, and `backward()` refuses a pass recorded before a
   * replacement (e.g. `loadStateDict`, an optimizer step), whose gradient
   * would match neither the old value nor the new one.
   */
  readonly version: number;
}

/** Creates a parameter holding `data`, at version 0. */
export function createParameter(data: Tensor): Parameter {
  let current = data;
  let version = 0;
  return {
    get data(): Tensor {
      return current;
    },
    set data(value: Tensor) {
      current = value;
      version += 1;
    },
    get version(): number {
      return version;
    },
    grad: undefined,
    requiresGrad: true,
  };
}
