/** Sum, max and min over a set of axes. */
import { sizeOf, type BinaryOp, type DType, type ReduceOp, type Shape } from '@backpack-ts/core';
import type { Float64Scratch } from '../scratch.js';
import type { CpuHandle } from '../storage.js';
import { allocate } from '../storage.js';
import { coalesce, contiguousStrides, forEachRun, innerStride } from '../strides.js';
import { binaryRun } from './elementwise.js';

/** The value of each reduction over no elements. */
const IDENTITY: Record<ReduceOp, number> = { sum: 0, max: -Infinity, min: Infinity };

/** The binary op that folds one more element into a partial result. */
const COMBINE: Record<ReduceOp, BinaryOp> = { sum: 'add', max: 'maximum', min: 'minimum' };

/** Folds `length` elements of `x`, `step` apart, into `initial`. */
function foldRun(op: ReduceOp, x: CpuHandle, start: number, step: number, length: number, initial: number): number {
  let acc = initial;
  switch (op) {
    case 'sum':
      for (let i = 0; i < length; i++) acc += x[start + i * step];
      return acc;
    case 'max':
      // Math.max / Math.min propagate NaN, as torch.amax / torch.amin do.
      for (let i = 0; i < length; i++) acc = Math.max(acc, x[start + i * step]);
      return acc;
    case 'min':
      for (let i = 0; i < length; i++) acc = Math.min(acc, x[start + i * step]);
      return acc;
  }
}

/**
 * Reduces `x` over `axes` (sorted, unique); the output drops those dimensions.
 * Partial results are doubles even for float32 and int32 data: they live in
 * the float64 output itself, or else in `scratch` and are rounded once at the end.
 */
export function reduce(
  op: ReduceOp,
  x: CpuHandle,
  shape: Shape,
  axes: readonly number[],
  dtype: DType,
  scratch: Float64Scratch,
): CpuHandle {
  const outShape = shape.filter((_, d) => !axes.includes(d));
  const outSize = sizeOf(outShape);
  const out = allocate(dtype, outSize);
  const acc = out instanceof Float64Array ? out : scratch.get(outSize);
  acc.fill(IDENTITY[op], 0, outSize);

  // Walk the input in memory order (cache friendly); reduced axes do not move
  // the accumulator (stride 0), kept axes step through it densely.
  const keptStrides = contiguousStrides(outShape);
  let kept = 0;
  const accStrides = shape.map((_, d) => (axes.includes(d) ? 0 : keptStrides[kept++]));
  const layout = coalesce(shape, [contiguousStrides(shape), accStrides]);
  const xStep = innerStride(layout, 0);
  const innerReduced = innerStride(layout, 1) === 0;
  const combine = COMBINE[op];
  forEachRun(layout, [0, 0], (offsets, length) => {
    const a = offsets[1];
    if (innerReduced) {
      acc[a] = foldRun(op, x, offsets[0], xStep, length, acc[a]);
    } else {
      // A kept innermost axis is the output's last non-trivial axis: accumulator step 1.
      binaryRun(combine, acc, a, 1, x, offsets[0], xStep, acc, a, length);
    }
  });

  if (acc !== out) out.set(acc.subarray(0, outSize));
  return out;
}
