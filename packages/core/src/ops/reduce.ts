import type { ReduceOp } from '../backend/backend.js';
import { formatShape, normalizeAxis, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { sameBackend } from './check.js';
import { div } from './elementwise.js';
import { runKernel } from './run-kernel.js';

/** Which axes to reduce: one, several, or all (undefined). Negative axes count from the end. */
export type Axes = number | readonly number[] | undefined;

function normalizeAxes(op: string, axes: Axes, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const normalized = [...new Set(list.map((a) => normalizeAxis(a, rank, op)))];
  return normalized.sort((a, b) => a - b);
}

function reduce(op: ReduceOp, x: Tensor, axes: Axes, keepDims: boolean): Tensor {
  const backend = sameBackend(op, [x]);
  const reduced = normalizeAxes(op, axes, x.rank);
  const emptyAxis = reduced.find((a) => x.shape[a] === 0);
  if (op !== 'sum' && emptyAxis !== undefined) {
    // As PyTorch: a sum over no elements is 0 (runKernel's fill), a maximum or minimum has no value.
    throw new RangeError(
      `${op}: axis ${emptyAxis} of ${formatShape(x.shape)} is empty, and the ${op === 'max' ? 'maximum' : 'minimum'} of no elements is undefined`,
    );
  }
  const outShape = keepDims
    ? x.shape.map((d, i) => (reduced.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !reduced.includes(i));
  return runKernel(backend, [x], outShape, x.dtype, () => backend.reduce(op, x.handle, x.shape, reduced, x.dtype));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return reduce('sum', x, axes, keepDims);
}

/** Maximum over `axes` (all when omitted). */
export function max(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return reduce('max', x, axes, keepDims);
}

/** Minimum over `axes` (all when omitted). */
export function min(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  return reduce('min', x, axes, keepDims);
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const reduced = normalizeAxes('mean', axes, x.rank);
  const count = sizeOf(reduced.map((a) => x.shape[a]!));
  return div(sum(x, reduced, keepDims), count);
}
