/**
 * unfold (im2col) and fold (col2im) as gathers with precomputed indices.
 *
 * unfold: the input `[N, C, ...spatial]` is flattened to `[N, C, P]` and,
 * when some window reaches into the padding, one zero column is appended
 * (index P); one gather along the last axis with an index per (kernel
 * offset k, window position l) gives `[N, C, K * L]` = `[N, C * K, L]`.
 *
 * fold, its transpose: every input position p receives at most K column
 * entries (one per kernel offset). They are listed, per position, in `width`
 * slots (the largest count over all positions; slots left over point at an
 * appended zero column): one gather gives `[N, C, P, width]`, a sum over the
 * last axis the result. Non-overlapping windows (pooling with stride =
 * kernel) have width 1, so no sum at all.
 *
 * A gather plus a small sum needs no scatter-add (wasm has no
 * UnsortedSegmentSum) and is deterministic. The backend uses this form on
 * engines with a fast gather (tfjs-node, WebGL, WebGPU); on wasm, whose
 * gather costs ~70 ns per element, and on tfjs's cpu engine it runs the
 * TypeScript kernels of `js-kernels.ts` instead. Index tensors depend only on
 * the geometry; {@link WindowIndexCache} builds each once.
 */
import * as tf from '@tensorflow/tfjs';
import { sizeOf, windowOutputSize, type WindowGeometry } from '@backpack-ts/core';

/** The sizes of one window over one spatial shape. */
export interface WindowPlan {
  readonly spatial: readonly number[];
  readonly outSpatial: readonly number[];
  /** Elements of one input plane (P), kernel offsets (K), window positions (L). */
  readonly planeSize: number;
  readonly kernelSize: number;
  readonly positions: number;
}

/** Indices of one unfold: `[K * L]` into `[P (+ 1)]`. */
export interface UnfoldIndices {
  readonly plan: WindowPlan;
  readonly indices: tf.Tensor1D;
  /** Whether some index points at the appended zero column (P). */
  readonly readsPadding: boolean;
}

/** Indices of one fold: `[P * width]` into `[K * L (+ 1)]`. */
export interface FoldIndices {
  readonly plan: WindowPlan;
  readonly indices: tf.Tensor1D;
  /** Column entries summed into one position, at most. */
  readonly width: number;
  /** Whether some slot points at the appended zero column (K * L). */
  readonly readsZero: boolean;
}

export function planWindow(spatial: readonly number[], window: WindowGeometry): WindowPlan {
  const outSpatial = windowOutputSize(spatial, window);
  return {
    spatial: [...spatial],
    outSpatial,
    planeSize: sizeOf(spatial),
    kernelSize: sizeOf(window.kernel),
    positions: sizeOf(outSpatial),
  };
}

/** Calls `visit(k, l, p)` for every kernel offset k and window position l; p is the input index or -1 in the padding. */
function forEachTap(plan: WindowPlan, window: WindowGeometry, visit: (k: number, l: number, p: number) => void): void {
  const rank = plan.spatial.length;
  const kOffset = new Array<number>(rank).fill(0);
  for (let k = 0; k < plan.kernelSize; k++) {
    // Row-major multi-index of k in the kernel grid.
    for (let d = rank - 1, rest = k; d >= 0; d--) {
      kOffset[d] = rest % window.kernel[d]!;
      rest = Math.floor(rest / window.kernel[d]!);
    }
    for (let l = 0; l < plan.positions; l++) {
      let p = 0;
      let inside = true;
      for (let d = rank - 1, rest = l, planeStride = 1; d >= 0; d--) {
        const o = rest % plan.outSpatial[d]!;
        rest = Math.floor(rest / plan.outSpatial[d]!);
        const coordinate = o * window.stride[d]! - window.padding[d]! + kOffset[d]! * window.dilation[d]!;
        if (coordinate < 0 || coordinate >= plan.spatial[d]!) inside = false;
        p += coordinate * planeStride;
        planeStride *= plan.spatial[d]!;
      }
      visit(k, l, inside ? p : -1);
    }
  }
}

export function buildUnfoldIndices(spatial: readonly number[], window: WindowGeometry): UnfoldIndices {
  const plan = planWindow(spatial, window);
  const data = new Int32Array(plan.kernelSize * plan.positions);
  let readsPadding = false;
  forEachTap(plan, window, (k, l, p) => {
    if (p < 0) readsPadding = true;
    data[k * plan.positions + l] = p < 0 ? plan.planeSize : p;
  });
  return { plan, indices: tf.keep(tf.tensor1d(data, 'int32')), readsPadding };
}

export function buildFoldIndices(spatial: readonly number[], window: WindowGeometry): FoldIndices {
  const plan = planWindow(spatial, window);
  const columns = plan.kernelSize * plan.positions;
  const sources: number[][] = Array.from({ length: plan.planeSize }, () => []);
  forEachTap(plan, window, (k, l, p) => {
    if (p >= 0) sources[p]!.push(k * plan.positions + l);
  });
  let width = 1;
  for (const list of sources) width = Math.max(width, list.length);
  const data = new Int32Array(plan.planeSize * width).fill(columns);
  let readsZero = false;
  sources.forEach((list, p) => {
    if (list.length < width) readsZero = true;
    data.set(list, p * width);
  });
  return { plan, indices: tf.keep(tf.tensor1d(data, 'int32')), width, readsZero };
}

/** A small LRU map of index tensors by geometry; evicted tensors are disposed. */
export class WindowIndexCache {
  private readonly unfolds = new Map<string, UnfoldIndices>();
  private readonly folds = new Map<string, FoldIndices>();

  constructor(private readonly capacity = 64) {}

  unfold(spatial: readonly number[], window: WindowGeometry): UnfoldIndices {
    return this.lookup(this.unfolds, key(spatial, window), () => buildUnfoldIndices(spatial, window));
  }

  fold(spatial: readonly number[], window: WindowGeometry): FoldIndices {
    return this.lookup(this.folds, key(spatial, window), () => buildFoldIndices(spatial, window));
  }

  /** Index tensors held (each is one tfjs tensor). */
  get size(): number {
    return this.unfolds.size + this.folds.size;
  }

  clear(): void {
    for (const entry of [...this.unfolds.values(), ...this.folds.values()]) entry.indices.dispose();
    this.unfolds.clear();
    this.folds.clear();
  }

  private lookup<T extends { indices: tf.Tensor }>(map: Map<string, T>, k: string, build: () => T): T {
    const hit = map.get(k);
    if (hit !== undefined) {
      // Re-insert: Map iteration order is insertion order, so the first entry is the least recently used.
      map.delete(k);
      map.set(k, hit);
      return hit;
    }
    // Built outside any tf.tidy of the caller's, so it survives the kernel that asked for it.
    const entry = build();
    map.set(k, entry);
    if (map.size > this.capacity) {
      const [oldest, evicted] = map.entries().next().value as [string, T];
      map.delete(oldest);
      evicted.indices.dispose();
    }
    return entry;
  }
}

function key(spatial: readonly number[], w: WindowGeometry): string {
  return [spatial, w.kernel, w.stride, w.padding, w.dilation].map((xs) => xs.join(',')).join('|');
}
