/**
 * Convolution and its two transposes (input and weight gradients) as ops:
 * the backend's optional kernels (`conv`, `convTranspose`, `convWeightGrad`)
 * where it offers them for the call, else `unfold` / `fold` and batched matrix
 * products per channel group, which every backend has.
 *
 * Groups split the channels into `[groups, channels / groups]`: the unfolded
 * input `[N, C·K, L]` is `[N, G, C/G·K, L]` as stored (rows are
 * channel-major), the weight `[O, C/G, ...k]` is `[G, O/G, C/G·K]`.
 */
import type { WindowGeometry } from '../backend/backend.js';
import { formatShape, shapesEqual, sizeOf } from '../tensor/shape.js';
import { isGradEnabled } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { assertFloat, sameBackend, sameDType } from './check.js';
import { einsum } from './einsum.js';
import { add } from './elementwise.js';
import { reshape } from './layout.js';
import { wantsGrad } from './record.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { fold, unfold, windowOutputSize } from './window.js';

/** The channel counts of a convolution with `weight` `[O, C/G, ...kernel]`, or an error naming the op. */
function convChannels(op: string, weight: Tensor, window: WindowGeometry, groups: number): { inChannels: number; outChannels: number } {
  const kernel = weight.shape.slice(2);
  if (!Number.isInteger(groups) || groups < 1 || weight.shape[0]! % groups !== 0 || !shapesEqual(kernel, window.kernel)) {
    throw new RangeError(
      `${op}: expects weight [O, C / groups, ...kernel] with O divisible by groups (${groups}) and kernel [${window.kernel.join(', ')}], got ${formatShape(weight.shape)}`,
    );
  }
  return { inChannels: weight.shape[1]! * groups, outChannels: weight.shape[0]! };
}

/**
 * Whether a call may use the backend's kernel: only when nothing is being
 * recorded, since the kernels have no derivative rules of their own; a
 * recorded call takes the unfold path, whose ops record themselves.
 */
function mayRunNatively(operands: readonly Tensor[]): boolean {
  return !isGradEnabled() || !operands.some(wantsGrad);
}

/** `[G, O/G, C/G · K]`: the weight as one matrix per group. */
function groupedWeight(weight: Tensor, groups: number): Tensor {
  return reshape(weight, [groups, weight.shape[0]! / groups, sizeOf(weight.shape.slice(1))]);
}

/**
 * Convolution (cross-correlation, PyTorch's `conv{1,2,3}d`) of `x`
 * `[N, C, ...spatial]` with `weight` `[O, C / groups, ...kernel]`, plus `bias`
 * `[O]` if given: `[N, O, ...out]`. `columns` is the unfolded input
 * `[N, C·K, L]` when it was computed on the way (the backend has no `conv`
 * for this call), for a caller that needs it again.
 */
export function conv(
  x: Tensor,
  weight: Tensor,
  window: WindowGeometry,
  groups = 1,
  bias?: Tensor,
): {
  /** The convolution, `[N, out, ...outSpatial]`. */
  output: Tensor;
  /** The unfolded input, when the unfold path ran (a native kernel unfolds nothing). */
  columns?: Tensor;
} {
  const operands = bias === undefined ? [x, weight] : [x, weight, bias];
  const backend = sameBackend('conv', operands);
  const dtype = assertFloat('conv', x);
  sameDType('conv', operands);
  const { inChannels, outChannels } = convChannels('conv', weight, window, groups);
  if (x.rank !== weight.rank || x.shape[1] !== inChannels || (bias !== undefined && !shapesEqual(bias.shape, [outChannels]))) {
    throw new RangeError(
      `conv: input ${formatShape(x.shape)}${bias === undefined ? '' : ` and bias ${formatShape(bias.shape)}`} do not fit weight ${formatShape(weight.shape)} with ${groups} group(s)`,
    );
  }
  const n = x.shape[0]!;
  const outSpatial = windowOutputSize(x.shape.slice(2), window, 'conv');
  const outShape = [n, outChannels, ...outSpatial];
  // Kernels never see empty tensors: the path below handles them.
  const native =
    x.size > 0 && weight.size > 0 && sizeOf(outShape) > 0 && mayRunNatively(operands)
      ? backend.conv?.(x.handle, x.shape, weight.handle, weight.shape, bias?.handle, window, groups, dtype)
      : undefined;
  if (native !== undefined) return { output: new Tensor(backend, native, outShape, dtype) };
  const columns = unfold(x, window);
  // [G, O/G, C/G·K] @ [N, G, C/G·K, L] -> [N, G, O/G, L]
  const y = reshape(matmul(groupedWeight(weight, groups), reshape(columns, [n, groups, columns.shape[1]! / groups, sizeOf(outSpatial)])), outShape);
  return { output: bias === undefined ? y : add(y, reshape(bias, [outChannels, ...outSpatial.map(() => 1)])), columns };
}

/**
 * The transpose of {@link conv} in its input (its input gradient, a
 * transposed convolution): `mat` `[B, O, ...out]` (`out` the window positions
 * over `spatial`) to `[B, C, ...spatial]`, for `weight` `[O, C / groups, ...kernel]`.
 */
export function convTranspose(mat: Tensor, weight: Tensor, spatial: readonly number[], window: WindowGeometry, groups = 1): Tensor {
  const backend = sameBackend('convTranspose', [mat, weight]);
  const dtype = assertFloat('convTranspose', mat);
  sameDType('convTranspose', [mat, weight]);
  const { inChannels, outChannels } = convChannels('convTranspose', weight, window, groups);
  const outSpatial = windowOutputSize(spatial, window, 'convTranspose');
  if (mat.rank !== weight.rank || mat.shape[1] !== outChannels || !shapesEqual(mat.shape.slice(2), outSpatial)) {
    throw new RangeError(
      `convTranspose: expects mat [B, ${outChannels}, ${outSpatial.join(', ')}] for spatial size [${spatial.join(', ')}], got ${formatShape(mat.shape)}`,
    );
  }
  const b = mat.shape[0]!;
  const resultShape = [b, inChannels, ...spatial];
  const native =
    mat.size > 0 && weight.size > 0 && sizeOf(resultShape) > 0 && mayRunNatively([mat, weight])
      ? backend.convTranspose?.(mat.handle, mat.shape, weight.handle, weight.shape, spatial, window, groups, dtype)
      : undefined;
  if (native !== undefined) return new Tensor(backend, native, resultShape, dtype);
  const positions = sizeOf(outSpatial);
  // [G, O/G, C/G·K]ᵀ @ [B, G, O/G, L] -> [B, G, C/G·K, L]
  const columns = matmul(groupedWeight(weight, groups), reshape(mat, [b, groups, outChannels / groups, positions]), true, false);
  return fold(reshape(columns, [b, inChannels * sizeOf(window.kernel), positions]), spatial, window);
}

/**
 * The transpose of {@link conv} in its weight, summed over the batch (its
 * weight gradient): for `x` `[N, C, ...spatial]` and `mat` `[V, N, O, ...out]`,
 * `[V, O, C / groups, ...kernel]`. `columns` is `unfold(x, window)` if the
 * caller has it (the path without the backend's kernel then skips the unfold).
 */
export function convWeightGrad(x: Tensor, mat: Tensor, window: WindowGeometry, groups = 1, columns?: Tensor): Tensor {
  const backend = sameBackend('convWeightGrad', [x, mat]);
  const dtype = assertFloat('convWeightGrad', x);
  sameDType('convWeightGrad', [x, mat]);
  const outSpatial = windowOutputSize(x.shape.slice(2), window, 'convWeightGrad');
  const [v, n, o] = [mat.shape[0]!, mat.shape[1]!, mat.shape[2]!];
  const inChannels = x.shape[1]!;
  if (
    x.rank < 3 ||
    mat.rank !== x.rank + 1 ||
    n !== x.shape[0] ||
    !shapesEqual(mat.shape.slice(3), outSpatial) ||
    !Number.isInteger(groups) ||
    groups < 1 ||
    o % groups !== 0 ||
    inChannels % groups !== 0
  ) {
    throw new RangeError(
      `convWeightGrad: expects x [N, C, ...spatial] and mat [V, N, O, ${outSpatial.join(', ')}] with C and O divisible by groups (${groups}), got ${formatShape(x.shape)} and ${formatShape(mat.shape)}`,
    );
  }
  const resultShape = [v, o, inChannels / groups, ...window.kernel];
  const native =
    x.size > 0 && mat.size > 0 && sizeOf(resultShape) > 0 && mayRunNatively([x, mat])
      ? backend.convWeightGrad?.(x.handle, x.shape, mat.handle, mat.shape, window, groups, dtype)
      : undefined;
  if (native !== undefined) return new Tensor(backend, native, resultShape, dtype);
  const unfolded = columns ?? unfold(x, window);
  const positions = sizeOf(outSpatial);
  const matGrouped = reshape(mat, [v, n, groups, o / groups, positions]);
  const columnsGrouped = reshape(unfolded, [n, groups, unfolded.shape[1]! / groups, positions]);
  // Σ_n Σ_l mat[v, n, g, o, l] columns[n, g, r, l] -> [V, G, O/G, C/G·K]
  return reshape(contractPositions(matGrouped, columnsGrouped, true, true), resultShape);
}

/**
 * The weight derivative's contraction over window positions, for `mat`
 * `[V, N, G, A, L]` and `other` `[N, G, B, L]`:
 * `Σ_l mat[v, n, g, a, l] other[n, g, b, l]`, as `[V, N, G, A, B]` per sample
 * or `[V, G, A, B]` summed over n. With `matFirst` false, A and B swap places
 * in the result (`[V, N, G, B, A]`).
 *
 * The batch sum either reduces the per-sample result or contracts n along
 * with l in one product (which copies both operands into that layout),
 * whichever touches less memory.
 */
export function contractPositions(mat: Tensor, other: Tensor, matFirst: boolean, sumBatch: boolean): Tensor {
  const [v, n, g, a, l] = mat.shape as [number, number, number, number, number];
  const b = other.shape[2]!;
  const perSampleSize = v * n * g * a * b;
  if (sumBatch && perSampleSize > other.size) {
    return matFirst ? einsum('vngal,ngbl->vgab', mat, other) : einsum('ngbl,vngal->vgba', other, mat);
  }
  let perSample: Tensor;
  if (v === 1) {
    // Batched over (n, g) with the operands as stored: no copies.
    const mat4 = reshape(mat, [n, g, a, l]);
    perSample = matFirst ? einsum('ngal,ngbl->ngab', mat4, other) : einsum('ngbl,ngal->ngba', other, mat4);
    perSample = reshape(perSample, [1, ...perSample.shape]);
  } else {
    perSample = matFirst ? einsum('vngal,ngbl->vngab', mat, other) : einsum('ngbl,vngal->vngba', other, mat);
  }
  return sumBatch ? sum(perSample, 1) : perSample;
}
