/** Softmax and log-softmax along one axis, shifted by the maximum so exp never overflows. */
import { sizeOf, type DType, type Shape } from '@backpack-ts/core';
import type { CpuHandle } from '../storage.js';
import { allocate } from '../storage.js';

/**
 * Calls `visit(start, step, length)` for every lane along `axis`: the
 * elements that differ only in their index along `axis`.
 */
function forEachLane(shape: Shape, axis: number, visit: (start: number, step: number, length: number) => void): void {
  const length = shape[axis];
  const step = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < step; j++) visit(o * length * step + j, step, length);
  }
}

/** The largest element of a lane; NaN if any element is NaN. */
function laneMax(x: CpuHandle, start: number, step: number, length: number): number {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, x[start + i * step]);
  return max;
}

/** exp(x - max) / sum(exp(x - max)) along `axis`. */
export function softmax(x: CpuHandle, shape: Shape, axis: number, dtype: DType): CpuHandle {
  const out = allocate(dtype, x.length);
  forEachLane(shape, axis, (start, step, length) => {
    const max = laneMax(x, start, step, length);
    let sum = 0;
    for (let i = 0; i < length; i++) {
      const e = Math.exp(x[start + i * step] - max);
      out[start + i * step] = e;
      sum += e;
    }
    for (let i = 0; i < length; i++) out[start + i * step] /= sum;
  });
  return out;
}

/** (x - max) - log(sum(exp(x - max))) along `axis`. */
export function logSoftmax(x: CpuHandle, shape: Shape, axis: number, dtype: DType): CpuHandle {
  const out = allocate(dtype, x.length);
  forEachLane(shape, axis, (start, step, length) => {
    const max = laneMax(x, start, step, length);
    let sum = 0;
    for (let i = 0; i < length; i++) sum += Math.exp(x[start + i * step] - max);
    const logSum = Math.log(sum);
    for (let i = 0; i < length; i++) out[start + i * step] = x[start + i * step] - max - logSum;
  });
  return out;
}
