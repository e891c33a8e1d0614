import type { WindowGeometry } from '../backend/backend.js';
import { formatShape, normalizeAxis, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { sameBackend } from './check.js';
import { runKernel } from './run-kernel.js';
import { mul } from './elementwise.js';
import { pad, permute, reshape } from './layout.js';
import { oneHot } from './nn.js';
import { max } from './reduce.js';

/**
 * Number of window positions along one dimension of size `size`, or an error
 * when the kernel does not fit the padded input.
 */
export function windowCount(size: number, window: WindowGeometry, dim: number, where = 'unfold'): number {
  const extent = window.dilation[dim]! * (window.kernel[dim]! - 1) + 1;
  const padded = size + 2 * window.padding[dim]!;
  if (extent > padded) {
    throw new RangeError(
      `${where}: the kernel spans ${extent} elements (kernel ${window.kernel[dim]}, dilation ${window.dilation[dim]}) in spatial dimension ${dim}, but the padded input has only ${padded} (size ${size} + 2 × padding ${window.padding[dim]})`,
    );
  }
  return Math.floor((padded - extent) / window.stride[dim]!) + 1;
}

/** The output spatial size of a window over `spatial`. */
export function windowOutputSize(spatial: readonly number[], window: WindowGeometry, where = 'unfold'): number[] {
  return spatial.map((size, dim) => windowCount(size, window, dim, where));
}

function checkGeometry(spatialRank: number, window: WindowGeometry, where: string): void {
  for (const [name, values, min] of [
    ['kernel', window.kernel, 1],
    ['stride', window.stride, 1],
    ['padding', window.padding, 0],
    ['dilation', window.dilation, 1],
  ] as const) {
    if (values.length !== spatialRank || values.some((v) => !Number.isInteger(v) || v < min)) {
      throw new RangeError(`${where}: ${name} must be ${spatialRank} integer(s) >= ${min}, got [${values.join(', ')}]`);
    }
  }
}

/** im2col: `[N, C, ...spatial]` -> `[N, C * K, L]` (see `Backend.unfold`). */
export function unfold(x: Tensor, window: WindowGeometry): Tensor {
  const backend = sameBackend('unfold', [x]);
  if (x.rank < 3) throw new RangeError(`unfold: expects [N, C, ...spatial], got ${formatShape(x.shape)}`);
  checkGeometry(x.rank - 2, window, 'unfold');
  const outSpatial = windowOutputSize(x.shape.slice(2), window);
  const outShape = [x.shape[0]!, x.shape[1]! * sizeOf(window.kernel), sizeOf(outSpatial)];
  // An empty input with padding unfolds to the padding's zeros.
  return runKernel(backend, [x], outShape, x.dtype, () => backend.unfold(x.handle, x.shape, window, x.dtype));
}

/** col2im, the transpose of `unfold`: `[N, C * K, L]` -> `[N, C, ...spatial]`. */
export function fold(cols: Tensor, spatial: readonly number[], window: WindowGeometry): Tensor {
  const backend = sameBackend('fold', [cols]);
  checkGeometry(spatial.length, window, 'fold');
  const kernelSize = sizeOf(window.kernel);
  const positions = sizeOf(windowOutputSize(spatial, window, 'fold'));
  if (cols.rank !== 3 || cols.shape[1]! % kernelSize !== 0 || cols.shape[2] !== positions) {
    throw new RangeError(
      `fold: expects [N, C * ${kernelSize}, ${positions}] for spatial size [${spatial.join(', ')}], got ${formatShape(cols.shape)}`,
    );
  }
  const outShape = [cols.shape[0]!, cols.shape[1]! / kernelSize, ...spatial];
  return runKernel(backend, [cols], outShape, cols.dtype, () => backend.fold(cols.handle, cols.shape, spatial, window, cols.dtype));
}

/** Index of the maximum along `axis` (first when tied), int32, axis removed. */
export function argmax(x: Tensor, axis: number): Tensor {
  const backend = sameBackend('argmax', [x]);
  const ax = normalizeAxis(axis, x.rank, 'argmax');
  if (x.shape[ax] === 0) throw new RangeError(`argmax: axis ${ax} of ${formatShape(x.shape)} is empty`);
  const outShape = x.shape.filter((_, i) => i !== ax);
  return runKernel(backend, [x], outShape, 'int32', () => backend.argmax(x.handle, x.shape, ax, x.dtype));
}

/**
 * Max pooling of `x` `[N, C, ...spatial]` over `window` (padding at -∞, so it
 * never wins): the maxima `[N, C, ...out]` and the position of each inside
 * its window, `[N, C, L]` int32 (the first maximum when tied, as PyTorch).
 * Uses the backend's `maxPool` where it offers one for this call, else pads,
 * unfolds and reduces.
 */
export function maxPool(
  x: Tensor,
  window: WindowGeometry,
): {
  /** The maxima, `[N, C, ...out]`. */
  values: Tensor;
  /** Position of each maximum inside its window, `[N, C, L]` int32. */
  argmax: Tensor;
} {
  const backend = sameBackend('maxPool', [x]);
  if (x.rank < 3) throw new RangeError(`maxPool: expects [N, C, ...spatial], got ${formatShape(x.shape)}`);
  if (x.dtype === 'int32') throw new TypeError('maxPool: expects a float tensor, got int32');
  checkGeometry(x.rank - 2, window, 'maxPool');
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const outSpatial = windowOutputSize(x.shape.slice(2), window, 'maxPool');
  const positions = sizeOf(outSpatial);
  // Kernels never see empty tensors: an empty x takes the path below, whose ops handle it.
  const native = x.size > 0 ? backend.maxPool?.(x.handle, x.shape, window, x.dtype) : undefined;
  if (native !== undefined) {
    return {
      values: new Tensor(backend, native.values, [n, c, ...outSpatial], x.dtype),
      argmax: new Tensor(backend, native.argmax, [n, c, positions], 'int32'),
    };
  }
  const p = window.padding;
  const padded = p.every((v) => v === 0) ? x : pad(x, [0, 0, ...p], [0, 0, ...p], -Infinity);
  const unpaddedWindow = { ...window, padding: p.map(() => 0) };
  const columns = reshape(unfold(padded, unpaddedWindow), [n, c, sizeOf(window.kernel), positions]);
  return { values: reshape(max(columns, 2), [n, c, ...outSpatial]), argmax: argmax(columns, 2) };
}

/**
 * The transposed Jacobian of max pooling: every entry of `mat` `[V, N, C, L]`
 * added to the input element its window selected (`argmax` `[N, C, L]`
 * int32, the positions inside the windows that {@link maxPool} returns),
 * `[V, N, C, ...spatial]`; elements no window selected get 0. Uses the
 * backend's `maxPoolTranspose` where it offers one for this call, else folds
 * `mat` times the one-hot of `argmax`.
 */
export function maxPoolTranspose(mat: Tensor, argmax: Tensor, spatial: readonly number[], window: WindowGeometry): Tensor {
  const backend = sameBackend('maxPoolTranspose', [mat, argmax]);
  checkGeometry(spatial.length, window, 'maxPoolTranspose');
  const positions = sizeOf(windowOutputSize(spatial, window, 'maxPoolTranspose'));
  const [v, n, c, l] = mat.shape as [number, number, number, number];
  if (mat.rank !== 4 || l !== positions || argmax.dtype !== 'int32' || argmax.rank !== 3 || argmax.shape[0] !== n || argmax.shape[1] !== c || argmax.shape[2] !== l) {
    throw new RangeError(
      `maxPoolTranspose: expects mat [V, N, C, ${positions}] and int32 argmax [N, C, ${positions}] for spatial size [${spatial.join(', ')}], got ${formatShape(mat.shape)} and ${argmax.dtype} ${formatShape(argmax.shape)}`,
    );
  }
  if (mat.dtype === 'int32') throw new TypeError('maxPoolTranspose: expects a float mat, got int32');
  const outShape = [v, n, c, ...spatial];
  // Kernels never see empty tensors (an empty mat, or no spatial elements): the path below handles them.
  const native =
    mat.size > 0 && sizeOf(outShape) > 0 ? backend.maxPoolTranspose?.(mat.handle, mat.shape, argmax.handle, spatial, window, mat.dtype) : undefined;
  if (native !== undefined) return new Tensor(backend, native, outShape, mat.dtype);
  const k = sizeOf(window.kernel);
  // One-hot of the positions, [N, C, K, L]: 1 where each window's maximum is.
  const selected = permute(oneHot(argmax, k, mat.dtype), [0, 1, 3, 2]);
  const columns = reshape(mul(reshape(mat, [v, n, c, 1, l]), selected), [v * n, c * k, l]);
  return reshape(fold(columns, spatial, window), outShape);
}
