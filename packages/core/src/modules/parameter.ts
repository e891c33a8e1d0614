import type { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';

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
 *
 * Ownership: the parameter owns `grad` and every extension field. The next
 * backward pass that computes a field replaces it and disposes the previous
 * tensors (`.grad` accumulates into a new tensor and disposes the old one),
 * and `zeroGrad()` disposes `grad`. A tensor read from a field is valid until
 * then: using it afterwards (`toArray()`, any op) throws an error that names
 * who disposed it. To hold a value across passes, keep a copy:
 * `parameter.gradBatch.clone()` (inside `tidy`, also `keep(...)` it).
 */
export interface Parameter {
  /**
   * The current value, a leaf tensor that requires gradients while the
   * parameter does. Replace it (never mutate the tensor) to update the
   * parameter; each replacement increments `version`. The assigned tensor
   * becomes the parameter's leaf: a value computed by recorded ops (an
   * optimizer step outside `noGrad`) drops its recorded history.
   */
  data: Tensor;
  /**
   * Gradient of the loss, accumulated over backward passes as in PyTorch;
   * reset with `zeroGrad()`. Each pass and `zeroGrad()` dispose the previous
   * tensor (see Ownership above): `clone()` it to keep it.
   */
  grad: Tensor | undefined;
  /**
   * How many times `data` was replaced (PyTorch's version counter). A forward
   * pass records it, and `backward()` refuses a pass recorded before a
   * replacement (e.g. `loadStateDict`, an optimizer step), whose gradient
   * would match neither the old value nor the new one.
   */
  readonly version: number;
  /**
   * Whether backward passes compute anything for it (default true). A frozen
   * parameter (`false`, PyTorch's `requires_grad_(False)`) is a constant of
   * the forward pass (its data requires no gradient): it gets no `.grad` and
   * no extension quantity, and no work is done for it.
   */
  requiresGrad: boolean;
}

/** The parameter whose data each tensor is, so that gradients reaching a parameter's data through ops land on the parameter. */
const owners = new WeakMap<Tensor, Parameter>();

/** The parameter whose current `data` is `tensor`, if any. */
export function parameterOf(tensor: Tensor): Parameter | undefined {
  const parameter = owners.get(tensor);
  return parameter?.data === tensor ? parameter : undefined;
}

/** The parameter whose `data` `tensor` is or was (it may have been replaced since). */
export function formerParameterOf(tensor: Tensor): Parameter | undefined {
  return owners.get(tensor);
}

/** Creates a parameter holding `data`, at version 0, requiring gradients. */
export function createParameter(data: Tensor): Parameter {
  let requiresGrad = true;
  let version = 0;
  const parameter: Parameter = {
    get data(): Tensor {
      return current;
    },
    set data(value: Tensor) {
      current = adopt(value);
      version += 1;
    },
    get version(): number {
      return version;
    },
    get requiresGrad(): boolean {
      return requiresGrad;
    },
    set requiresGrad(value: boolean) {
      requiresGrad = value;
      current.requiresGrad_(value);
    },
    grad: undefined,
  };
  /**
   * `value` as this parameter's leaf. A tensor that already is another
   * parameter's data gets a handle of its own (a frozen flag or a gradient
   * must not leak from one parameter to the other); the parameter owns it.
   */
  const adopt = (value: Tensor): Tensor => {
    const owner = parameterOf(value);
    const leaf = owner === undefined || owner === parameter ? value : keep(value.detach());
    leaf.gradFn = undefined;
    leaf.requiresGrad_(requiresGrad);
    owners.set(leaf, parameter);
    return leaf;
  };
  let current = adopt(data);
  return parameter;
}
