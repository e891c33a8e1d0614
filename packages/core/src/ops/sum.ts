/**
 * Sums over axes and broadcasting, each other's transpose: the derivative of
 * a sum broadcasts, the derivative of a broadcast sums ({@link sumToShape},
 * which every broadcasting op's rule uses). Also the reduction kernel call
 * that `max` and `min` share.
 *
 * Sample mixing (axis 0 of input and output read as the batch axis): a sum
 * mixes samples when it reduces axis 0; a broadcast never does (a dimension
 * it adds in front, or stretches from 1, is shared by every sample).
 */
import type { ReduceOp, Shape } from '../backend/backend.js';
import type { OpDerivatives } from '../tensor/autograd.js';
import { formatShape, normalizeAxis, padShapeLeft, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { sameBackend } from './check.js';
import { reshape } from './layout.js';
import { leadingShape, record } from './record.js';
import { runKernel } from './run-kernel.js';

/** Which axes to reduce: one, several, or all (undefined). Negative axes count from the end. */
export type Axes = number | readonly number[] | undefined;

/** The axes as sorted, unique, non-negative indices. */
export function normalizeAxes(op: string, axes: Axes, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const normalized = [...new Set(list.map((a) => normalizeAxis(a, rank, op)))];
  return normalized.sort((a, b) => a - b);
}

/** `shape` with the reduced `axes` kept as 1 (the shape of a reduction with `keepDims`). */
export function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Runs the reduction kernel over normalized `axes`, unrecorded. */
export function reduceKernel(op: ReduceOp, x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const backend = sameBackend(op, [x]);
  const emptyAxis = axes.find((a) => x.shape[a] === 0);
  if (op !== 'sum' && emptyAxis !== undefined) {
    // As PyTorch: a sum over no elements is 0 (runKernel's fill), a maximum or minimum has no value.
    throw new RangeError(
      `${op}: axis ${emptyAxis} of ${formatShape(x.shape)} is empty, and the ${op === 'max' ? 'maximum' : 'minimum'} of no elements is undefined`,
    );
  }
  const outShape = keepDims ? keptShape(x.shape, axes) : x.shape.filter((_, i) => !axes.includes(i));
  return runKernel(backend, [x], outShape, x.dtype, () => backend.reduce(op, x.handle, x.shape, axes, x.dtype));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: Axes, keepDims = false): Tensor {
  const reduced = normalizeAxes('sum', axes, x.rank);
  const out = reduceKernel('sum', x, reduced, keepDims);
  return record('sum', [x], out, () => sumDerivatives(x.shape, reduced, keepDims), reduced.includes(0));
}

function sumDerivatives(inShape: Shape, axes: readonly number[], keepDims: boolean): OpDerivatives {
  const kept = keptShape(inShape, axes);
  const outRank = keepDims ? inShape.length : inShape.length - axes.length;
  return {
    vjp: (g) => {
      const lead = leadingShape(g, outRank);
      return [broadcastTo(reshape(g, [...lead, ...kept]), [...lead, ...inShape])];
    },
    jvp: ([t]) => sum(t!, axes.map((a) => a + t!.rank - inShape.length), keepDims),
  };
}

/**
 * `x` broadcast to `shape` (NumPy rules: dimensions added in front, or
 * stretched from 1), as a new tensor.
 */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const backend = sameBackend('broadcastTo', [x]);
  const target = [...shape];
  const padded = padShapeLeft(x.shape, Math.max(x.rank, target.length));
  const fits = x.rank <= target.length && target.every((d, i) => Number.isInteger(d) && d >= 0 && (padded[i] === d || padded[i] === 1));
  if (!fits) throw new RangeError(`broadcastTo: cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
  const out = runKernel(backend, [x], target, x.dtype, () => {
    // The contract has no broadcast kernel: adding zeros of the target shape broadcasts on every backend.
    const zeros = backend.full(target, 0, x.dtype);
    try {
      return backend.binary('add', x.handle, padded, zeros, target, target, x.dtype);
    } finally {
      backend.dispose(zeros);
    }
  });
  return record('broadcastTo', [x], out, () => broadcastDerivatives(x.shape, target));
}

function broadcastDerivatives(inShape: Shape, outShape: Shape): OpDerivatives {
  const padded = padShapeLeft(inShape, outShape.length);
  return {
    vjp: (g) => [sumToShape(g, outShape, inShape)],
    jvp: ([t]) => {
      const lead = leadingShape(t!, inShape.length);
      return broadcastTo(reshape(t!, [...lead, ...padded]), [...lead, ...outShape]);
    },
  };
}

/**
 * The transpose of broadcasting `to` to `from`: `g` `[...lead, ...from]`
 * summed over the dimensions broadcasting added or stretched, as
 * `[...lead, ...to]`. Returns `g` itself when there is nothing to sum.
 */
export function sumToShape(g: Tensor, from: Shape, to: Shape): Tensor {
  const lead = leadingShape(g, from.length);
  const padded = padShapeLeft(to, from.length);
  const axes = from.flatMap((d, i) => (padded[i] === 1 && d !== 1 ? [lead.length + i] : []));
  const summed = axes.length > 0 ? sum(g, axes, true) : g;
  const target = [...lead, ...to];
  return shapesEqual(summed.shape, target) ? summed : reshape(summed, target);
}
