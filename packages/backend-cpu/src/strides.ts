/**
 * Strided iteration shared by every kernel that walks tensors in something
 * other than plain flat order: broadcasting, reductions, permute, slice, pad
 * and concat all describe their operands as (start offset, strides) and let
 * `forEachRun` drive the loop.
 */
import type { Shape } from '@backpack-ts/core';

/** Row-major strides of a dense tensor of `shape`. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

/**
 * Strides that read a dense tensor of `shape` at the shape of a broadcast
 * result of the same rank: dimensions of size 1 repeat (stride 0).
 */
export function broadcastStrides(shape: Shape): number[] {
  return contiguousStrides(shape).map((stride, d) => (shape[d] === 1 ? 0 : stride));
}

/** An index space plus, for each operand, the stride of every dimension. */
export interface StridedLayout {
  readonly shape: readonly number[];
  readonly strides: readonly (readonly number[])[];
}

/**
 * Simplifies a layout without changing the visited offsets: drops dimensions
 * of size 1 and merges neighbours that every operand walks as one contiguous
 * range, so e.g. same-shape operands become a single long run. The result has
 * rank >= 1; an empty index space becomes shape `[0]`.
 */
export function coalesce(shape: Shape, strides: readonly (readonly number[])[]): StridedLayout {
  const dims: number[] = [];
  const merged: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d];
    if (size === 0) return { shape: [0], strides: strides.map(() => [0]) };
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => merged[k][last] === s[d] * size)) {
      dims[last] *= size;
      strides.forEach((s, k) => (merged[k][last] = s[d]));
    } else {
      dims.push(size);
      strides.forEach((s, k) => merged[k].push(s[d]));
    }
  }
  if (dims.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: dims, strides: merged };
}

/** The stride of `operand` along the innermost dimension of `layout`. */
export function innerStride(layout: StridedLayout, operand: number): number {
  const strides = layout.strides[operand];
  return strides[strides.length - 1];
}

/**
 * Visits the index space of `layout` in row-major order, one innermost run at
 * a time: `visit(offsets, length)` gets the offset of the run's first element
 * in each operand (`starts` plus the strided position). Per-element work stays
 * in the caller's tight inner loop, which steps by `innerStride`.
 */
export function forEachRun(
  layout: StridedLayout,
  starts: readonly number[],
  visit: (offsets: readonly number[], length: number) => void,
): void {
  const { shape, strides } = layout;
  const outerRank = shape.length - 1;
  const length = shape[outerRank];
  if (length === 0) return;
  const offsets = starts.slice();
  const index = new Array<number>(outerRank).fill(0);
  for (;;) {
    visit(offsets, length);
    let d = outerRank - 1;
    for (; d >= 0; d--) {
      for (let k = 0; k < offsets.length; k++) offsets[k] += strides[k][d];
      if (++index[d] < shape[d]) break;
      for (let k = 0; k < offsets.length; k++) offsets[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}
