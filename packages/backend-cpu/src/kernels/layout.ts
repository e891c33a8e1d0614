/** Kernels that move elements without computing: permute, slice, pad, concat. */
import { sizeOf, type DType, type Shape } from '@backpack-ts/core';
import type { CpuHandle } from '../storage.js';
import { allocate, full } from '../storage.js';
import { coalesce, contiguousStrides, forEachRun, innerStride } from '../strides.js';

/**
 * Contiguous runs at least this long are copied with `TypedArray.set` (a
 * memcpy); shorter ones with a loop, which beats creating a subarray view
 * for them (the measured break-even in V8).
 */
const MEMCPY_MIN_LENGTH = 32;

/**
 * Copies the index space `shape` from `src` to `dst`, each operand addressed
 * by its own start offset and strides.
 */
function copyStrided(
  shape: Shape,
  src: CpuHandle,
  srcStart: number,
  srcStrides: readonly number[],
  dst: CpuHandle,
  dstStart: number,
  dstStrides: readonly number[],
): void {
  const layout = coalesce(shape, [srcStrides, dstStrides]);
  const srcStep = innerStride(layout, 0);
  const dstStep = innerStride(layout, 1);
  const memcpy = srcStep === 1 && dstStep === 1;
  forEachRun(layout, [srcStart, dstStart], (offsets, length) => {
    const s = offsets[0];
    const d = offsets[1];
    if (memcpy && length >= MEMCPY_MIN_LENGTH) {
      dst.set(src.subarray(s, s + length), d);
    } else {
      for (let i = 0; i < length; i++) dst[d + i * dstStep] = src[s + i * srcStep];
    }
  });
}

/** Output dimension `i` is input dimension `perm[i]`. */
export function permute(x: CpuHandle, shape: Shape, perm: readonly number[], dtype: DType): CpuHandle {
  const outShape = perm.map((p) => shape[p]);
  const strides = contiguousStrides(shape);
  const out = allocate(dtype, x.length);
  copyStrided(outShape, x, 0, perm.map((p) => strides[p]), out, 0, contiguousStrides(outShape));
  return out;
}

/** The block `[begin, begin + size)` along every dimension. */
export function slice(
  x: CpuHandle,
  shape: Shape,
  begin: readonly number[],
  size: readonly number[],
  dtype: DType,
): CpuHandle {
  const strides = contiguousStrides(shape);
  const start = begin.reduce((offset, b, d) => offset + b * strides[d], 0);
  const out = allocate(dtype, sizeOf(size));
  copyStrided(size, x, start, strides, out, 0, contiguousStrides(size));
  return out;
}

/** Surrounds `x` with `before[d]` and `after[d]` elements equal to `value` along each dimension. */
export function pad(
  x: CpuHandle,
  shape: Shape,
  before: readonly number[],
  after: readonly number[],
  value: number,
  dtype: DType,
): CpuHandle {
  const outShape = shape.map((dim, d) => before[d] + dim + after[d]);
  const outStrides = contiguousStrides(outShape);
  const out = full(outShape, value, dtype);
  const start = before.reduce((offset, b, d) => offset + b * outStrides[d], 0);
  copyStrided(shape, x, 0, contiguousStrides(shape), out, start, outStrides);
  return out;
}

/** Joins `xs` along `axis`; all other dimensions agree. */
export function concat(xs: readonly CpuHandle[], shapes: readonly Shape[], axis: number, dtype: DType): CpuHandle {
  const outShape = shapes[0].slice();
  outShape[axis] = shapes.reduce((total, shape) => total + shape[axis], 0);
  const outStrides = contiguousStrides(outShape);
  const out = allocate(dtype, sizeOf(outShape));
  let position = 0;
  xs.forEach((x, i) => {
    const shape = shapes[i];
    copyStrided(shape, x, 0, contiguousStrides(shape), out, position * outStrides[axis], outStrides);
    position += shape[axis];
  });
  return out;
}
