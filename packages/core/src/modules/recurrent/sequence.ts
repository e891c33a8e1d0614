/**
 * Sequences as recurrent layers hold them inside: batch-first tensors
 * `[..., N, T, k]` (time in the second-to-last dimension, any leading
 * dimensions such as the derivatives' V before the batch), cut into time
 * steps `[..., N, k]` and stacked back.
 */
import { zeros } from '../../ops/create.js';
import { concat, permute, reshape, slice } from '../../ops/layout.js';
import type { Tensor } from '../../tensor/tensor.js';

/** Time step `t` of `[..., N, T, k]`: `[..., N, k]`. */
export function timeStep(sequence: Tensor, t: number): Tensor {
  const axis = sequence.rank - 2;
  const begin = sequence.shape.map((_, i) => (i === axis ? t : 0));
  const size = sequence.shape.map((_, i) => (i === axis ? 1 : -1));
  const shape = sequence.shape.filter((_, i) => i !== axis);
  return reshape(slice(sequence, begin, size), shape);
}

/** Time steps `[..., N, k]` (one shape) stacked into `[..., N, T, k]`. */
export function stackSteps(steps: readonly Tensor[]): Tensor {
  const withTime = steps.map((step) => reshape(step, [...step.shape.slice(0, -1), 1, step.shape[step.rank - 1]!]));
  return concat(withTime, -2);
}

/**
 * The sequence one step later: entry t holds step t - 1 of `sequence`, and
 * entry 0 zeros (the initial state), `[..., N, T, k]`.
 */
export function previousSteps(sequence: Tensor): Tensor {
  const axis = sequence.rank - 2;
  const steps = sequence.shape[axis]!;
  const initial = zeros(
    sequence.shape.map((d, i) => (i === axis ? 1 : d)),
    { backend: sequence.backend, dtype: sequence.dtype },
  );
  if (steps === 1) return initial;
  const earlier = slice(
    sequence,
    sequence.shape.map(() => 0),
    sequence.shape.map((d, i) => (i === axis ? steps - 1 : d)),
  );
  return concat([initial, earlier], axis);
}

/**
 * Swaps the batch and time dimensions of `[..., A, B, k]` (`leading`
 * dimensions before them): PyTorch's time-major `[T, N, k]` to batch-first
 * `[N, T, k]` and back.
 */
export function swapBatchAndTime(x: Tensor, leading: number): Tensor {
  const order = x.shape.map((_, i) => (i === leading ? leading + 1 : i === leading + 1 ? leading : i));
  return permute(x, order);
}
