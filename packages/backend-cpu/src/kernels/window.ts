/**
 * Sliding windows over `[N, C, ...spatial]`: unfold (im2col), its transpose
 * fold (col2im), and argmax along an axis (max pooling's indices).
 *
 * unfold and fold share one walk. For a fixed kernel offset, the window
 * positions whose tap lands inside the input (not in the zero padding) form a
 * box, one index range per spatial dimension; the walk visits only that box,
 * one run along the last spatial dimension at a time. Positions outside the
 * box stay 0 in unfold's freshly allocated output and are dropped by fold.
 */
import { sizeOf, windowCount, type DType, type Shape, type WindowGeometry } from '@backpack-ts/core';
import type { Float64Scratch } from '../scratch.js';
import type { CpuHandle } from '../storage.js';
import { allocate, checkOutput } from '../storage.js';
import { contiguousStrides } from '../strides.js';

/** The index arithmetic of one window over a `[N, C, ...spatial]` tensor. */
interface WindowPlan {
  /** N * C: the independent planes. */
  readonly planes: number;
  /** Elements of one spatial plane of the input (the fold output). */
  readonly planeSize: number;
  /** Window positions per dimension and in all (L). */
  readonly outSpatial: readonly number[];
  readonly positions: number;
  /** Kernel offsets per dimension (row-major) and in all (K). */
  readonly kernel: readonly number[];
  readonly kernelSize: number;
  /** Row-major strides of the input plane and of the position grid. */
  readonly inStrides: readonly number[];
  readonly outStrides: readonly number[];
  /**
   * For dimension d and kernel offset j: the window positions whose tap is
   * inside the input are `[first[d][j], end[d][j])`, and position o reads
   * input index `o * stride[d] + shift[d][j]`.
   */
  readonly first: readonly (readonly number[])[];
  readonly end: readonly (readonly number[])[];
  readonly shift: readonly (readonly number[])[];
  readonly stride: readonly number[];
}

function planWindow(planes: number, spatial: readonly number[], window: WindowGeometry): WindowPlan {
  const rank = spatial.length;
  const outSpatial: number[] = [];
  const first: number[][] = [];
  const end: number[][] = [];
  const shift: number[][] = [];
  for (let d = 0; d < rank; d++) {
    const size = spatial[d];
    const k = window.kernel[d];
    const s = window.stride[d];
    const p = window.padding[d];
    const dil = window.dilation[d];
    const count = windowCount(size, window, d);
    outSpatial.push(count);
    const firsts: number[] = [];
    const ends: number[] = [];
    const shifts: number[] = [];
    for (let j = 0; j < k; j++) {
      const offset = j * dil - p;
      // 0 <= o * s + offset <= size - 1
      const lo = Math.max(0, Math.ceil(-offset / s));
      const hi = Math.min(count, Math.floor((size - 1 - offset) / s) + 1);
      firsts.push(lo);
      ends.push(Math.max(lo, hi));
      shifts.push(offset);
    }
    first.push(firsts);
    end.push(ends);
    shift.push(shifts);
  }
  return {
    planes,
    planeSize: sizeOf(spatial),
    outSpatial,
    positions: sizeOf(outSpatial),
    kernel: window.kernel,
    kernelSize: sizeOf(window.kernel),
    inStrides: contiguousStrides(spatial),
    outStrides: contiguousStrides(outSpatial),
    first,
    end,
    shift,
    stride: window.stride,
  };
}

/**
 * The runs of one window walk, for all kernel offsets: run r copies `length[r]`
 * elements between the input plane, from `inOffset[r]` in steps of `inStep`,
 * and row `row[r]` (the kernel offset) of the unfolded plane, from column
 * `outOffset[r]` in steps of 1. Runs are ordered by row, then column.
 */
interface TapRuns {
  readonly count: number;
  readonly row: Int32Array;
  readonly inOffset: Int32Array;
  readonly outOffset: Int32Array;
  readonly length: Int32Array;
  readonly inStep: number;
}

function tapRuns(plan: WindowPlan): TapRuns {
  const rank = plan.kernel.length;
  const last = rank - 1;
  const rows: number[] = [];
  const inOffsets: number[] = [];
  const outOffsets: number[] = [];
  const lengths: number[] = [];
  const kernelIndex = new Array<number>(rank).fill(0);
  const index = new Array<number>(rank).fill(0);
  const lo = new Array<number>(rank);
  const hi = new Array<number>(rank);
  for (let k = 0; k < plan.kernelSize; k++) {
    let empty = false;
    for (let d = 0; d < rank; d++) {
      lo[d] = plan.first[d][kernelIndex[d]];
      hi[d] = plan.end[d][kernelIndex[d]];
      if (lo[d] >= hi[d]) empty = true;
    }
    // Odometer over the box of positions, the last dimension as one run.
    if (!empty) {
      for (let d = 0; d < rank; d++) index[d] = lo[d];
      for (;;) {
        let inOffset = 0;
        let outOffset = 0;
        for (let d = 0; d < rank; d++) {
          inOffset += (index[d] * plan.stride[d] + plan.shift[d][kernelIndex[d]]) * plan.inStrides[d];
          outOffset += index[d] * plan.outStrides[d];
        }
        rows.push(k);
        inOffsets.push(inOffset);
        outOffsets.push(outOffset);
        lengths.push(hi[last] - lo[last]);
        let d = last - 1;
        for (; d >= 0; d--) {
          if (++index[d] < hi[d]) break;
          index[d] = lo[d];
        }
        if (d < 0) break;
      }
    }
    for (let d = last; d >= 0; d--) {
      if (++kernelIndex[d] < plan.kernel[d]) break;
      kernelIndex[d] = 0;
    }
  }
  return {
    count: rows.length,
    row: Int32Array.from(rows),
    inOffset: Int32Array.from(inOffsets),
    outOffset: Int32Array.from(outOffsets),
    length: Int32Array.from(lengths),
    inStep: plan.stride[last] * plan.inStrides[last],
  };
}

/**
 * im2col: `[N, C, ...spatial]` -> `[N, C * K, L]`; taps in the padding read 0.
 * Writes into `out` when given (any contents, of the result's dtype and
 * length: a recycled buffer), else into a new array.
 */
export function unfold(x: CpuHandle, shape: Shape, window: WindowGeometry, dtype: DType, out?: CpuHandle): CpuHandle {
  const plan = planWindow(shape[0] * shape[1], shape.slice(2), window);
  const { planes, planeSize, positions, kernelSize } = plan;
  const outLength = planes * kernelSize * positions;
  if (out === undefined) out = allocate(dtype, outLength);
  else {
    checkOutput('unfold', out, dtype, outLength);
    // Padding taps are never written: they must read 0.
    if (window.padding.some((p) => p > 0)) out.fill(0);
  }
  const runs = tapRuns(plan);
  const { count, row, inOffset, outOffset, length, inStep } = runs;
  // Plane by plane: the input plane stays in cache while its K rows are written in order.
  for (let plane = 0; plane < planes; plane++) {
    const xBase = plane * planeSize;
    const outBase = plane * kernelSize * positions;
    for (let r = 0; r < count; r++) {
      const src = xBase + inOffset[r];
      const dst = outBase + row[r] * positions + outOffset[r];
      const n = length[r];
      if (inStep === 1) {
        for (let i = 0; i < n; i++) out[dst + i] = x[src + i];
      } else {
        for (let i = 0; i < n; i++) out[dst + i] = x[src + i * inStep];
      }
    }
  }
  return out;
}

/**
 * col2im: `[N, C * K, L]` -> `[N, C, ...spatial]`, summing every column entry
 * into the input element unfold read it from (entries in the padding are
 * dropped). float32 sums accumulate in doubles and are rounded once.
 */
export function fold(
  cols: CpuHandle,
  colsShape: Shape,
  spatial: readonly number[],
  window: WindowGeometry,
  dtype: DType,
  scratch: Float64Scratch,
): CpuHandle {
  const kernelSize = sizeOf(window.kernel);
  const plan = planWindow(colsShape[0] * (colsShape[1] / kernelSize), spatial, window);
  const { planes, planeSize, positions } = plan;
  const outSize = planes * planeSize;
  const out = allocate(dtype, outSize);
  let acc: CpuHandle = out;
  if (dtype === 'float32') {
    acc = scratch.get(outSize);
    acc.fill(0, 0, outSize);
  }
  const { count, row, inOffset, outOffset, length, inStep } = tapRuns(plan);
  for (let plane = 0; plane < planes; plane++) {
    const accBase = plane * planeSize;
    const colsBase = plane * kernelSize * positions;
    for (let r = 0; r < count; r++) {
      const dst = accBase + inOffset[r];
      const src = colsBase + row[r] * positions + outOffset[r];
      const n = length[r];
      for (let i = 0; i < n; i++) acc[dst + i * inStep] += cols[src + i];
    }
  }
  if (acc !== out) out.set(acc.subarray(0, outSize));
  return out;
}

/**
 * Index of the largest element along `axis` as int32, the axis removed. The
 * first maximum wins ties; as in PyTorch, NaN counts as the largest value (the
 * first NaN wins).
 */
export function argmax(x: CpuHandle, shape: Shape, axis: number, scratch: Float64Scratch): CpuHandle {
  const length = shape[axis];
  const inner = sizeOf(shape.slice(axis + 1));
  const outer = sizeOf(shape.slice(0, axis));
  const out = allocate('int32', outer * inner);
  // Sweep the lanes of one outer block together, in memory order; `best`
  // holds the running maximum of each lane (out already holds index 0).
  const best = scratch.get(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * length * inner;
    const at = o * inner;
    for (let j = 0; j < inner; j++) best[j] = x[base + j];
    for (let i = 1; i < length; i++) {
      const row = base + i * inner;
      for (let j = 0; j < inner; j++) {
        const v = x[row + j];
        const b = best[j];
        // b === b: once a lane has met NaN it keeps it.
        if (v > b || (v !== v && b === b)) {
          best[j] = v;
          out[at + j] = i;
        }
      }
    }
  }
  return out;
}
