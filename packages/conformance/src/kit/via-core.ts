/**
 * Runs one of core's ops on raw handles, for kit checks of what core does
 * with a backend's kernels (optional kernels and their fallback, empty
 * tensors) rather than of one kernel.
 */
import { Tensor, keep, tidy, type Backend, type DType, type Shape } from '@backpack-ts/core';

/** A handle of the backend with the shape and dtype core would track for it. */
export interface Operand {
  readonly handle: unknown;
  readonly shape: Shape;
  readonly dtype: DType;
}

/**
 * `op` on tensors viewing `operands` (which stay the caller's); returns the
 * result, whose handle the caller disposes. Every intermediate is disposed.
 */
export function viaCore(backend: Backend, operands: readonly Operand[], op: (xs: readonly Tensor[]) => Tensor): Operand {
  const xs = operands.map((o) => keep(new Tensor(backend, o.handle, o.shape, o.dtype)));
  const { handle, shape, dtype } = keep(tidy(() => op(xs)));
  return { handle, shape, dtype };
}
