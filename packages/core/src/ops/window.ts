/**
 * Sliding windows over `[N, C, ...spatial]`: `unfold` (im2col) and its
 * transpose `fold`, `argmax`, and max pooling with its transpose.
 *
 * Derivatives: `unfold` and `fold` are linear and each other's transpose.
 * Max pooling's derivative routes through the saved argmax (the first
 * maximum of a window when tied, as PyTorch), on both of its paths:
 * {@link maxPoolTranspose} scatters to the selected elements, and its own
 * transpose gathers them ({@link gatherSelected}). The argmax and `argmax`'s
 * result are integers and carry no gradient.
 *
 * Sample mixing (axis 0 of inputs and output read as the batch axis): none
 * of these mixes samples; axis 0 (N, or the V of `maxPoolTranspose`'s
 * `[V, N, C, L]`) passes through.
 */
import type { FloatDType, WindowGeometry } from '../backend/backend.js';
import { noGrad } from '../tensor/autograd.js';
import { formatShape, normalizeAxis, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { sameBackend } from './check.js';
import { runKernel } from './run-kernel.js';
import { mul } from './elementwise.js';
import { pad, permute, reshape } from './layout.js';
import { oneHot } from './nn.js';
import { leadingShape, record } from './record.js';
import { max } from './reduce.js';
import { sum } from './sum.js';

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
  const out = runKernel(backend, [x], outShape, x.dtype, () => backend.unfold(x.handle, x.shape, window, x.dtype));
  const spatial = x.shape.slice(2);
  return record('unfold', [x], out, () => ({
    vjp: (g) => [mergingLead(g, out.rank, (cols) => fold(cols, spatial, window))],
    jvp: ([t]) => mergingLead(t!, x.rank, (input) => unfold(input, window)),
  }));
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
  const out = runKernel(backend, [cols], outShape, cols.dtype, () => backend.fold(cols.handle, cols.shape, spatial, window, cols.dtype));
  return record('fold', [cols], out, () => ({
    vjp: (g) => [mergingLead(g, out.rank, (image) => unfold(image, window))],
    jvp: ([t]) => mergingLead(t!, cols.rank, (c) => fold(c, spatial, window)),
  }));
}

/**
 * Applies `f`, an op on tensors of rank `rank`, to `t` `[...lead, d0, ...]`
 * by merging the extra leading dimensions into axis 0 (`[lead·d0, ...]`),
 * and splits them off the result again.
 */
function mergingLead(t: Tensor, rank: number, f: (merged: Tensor) => Tensor): Tensor {
  const lead = leadingShape(t, rank);
  if (lead.length === 0) return f(t);
  const rest = t.shape.slice(lead.length);
  const result = f(reshape(t, [sizeOf(lead) * rest[0]!, ...rest.slice(1)]));
  return reshape(result, [...lead, rest[0]!, ...result.shape.slice(1)]);
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
  const dtype = x.dtype;
  checkGeometry(x.rank - 2, window, 'maxPool');
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const outSpatial = windowOutputSize(x.shape.slice(2), window, 'maxPool');
  const positions = sizeOf(outSpatial);
  // Kernels never see empty tensors: an empty x takes the path below, whose ops handle it.
  const native = x.size > 0 ? backend.maxPool?.(x.handle, x.shape, window, dtype) : undefined;
  const { values, argmax: selected } =
    native !== undefined
      ? {
          values: new Tensor(backend, native.values, [n, c, ...outSpatial], x.dtype),
          argmax: new Tensor(backend, native.argmax, [n, c, positions], 'int32'),
        }
      : noGrad(() => {
          // Recorded as one op (below), whose derivative follows the argmax as the native path's does.
          const p = window.padding;
          const padded = p.every((v) => v === 0) ? x : pad(x, [0, 0, ...p], [0, 0, ...p], -Infinity);
          const unpaddedWindow = { ...window, padding: p.map(() => 0) };
          const columns = reshape(unfold(padded, unpaddedWindow), [n, c, sizeOf(window.kernel), positions]);
          return { values: reshape(max(columns, 2), [n, c, ...outSpatial]), argmax: argmax(columns, 2) };
        });
  const spatial = x.shape.slice(2);
  const recorded = record('maxPool', [x], values, () => ({
    vjp: (g) => {
      const lead = leadingShape(g, values.rank);
      const scattered = maxPoolTranspose(reshape(g, [sizeOf(lead), n, c, positions]), selected, spatial, window);
      return [reshape(scattered, [...lead, ...x.shape])];
    },
    jvp: ([t]) => {
      const lead = leadingShape(t!, x.rank);
      const gathered = gatherSelected(reshape(t!, [sizeOf(lead), ...x.shape]), selected, window, dtype);
      return reshape(gathered, [...lead, ...values.shape]);
    },
  }));
  return { values: recorded, argmax: selected };
}

/** Where each window's maximum is, `[N, C, K, L]`: the one-hot of `argmax` `[N, C, L]` over the K kernel positions. */
function selection(argmax: Tensor, k: number, dtype: FloatDType): Tensor {
  return permute(oneHot(argmax, k, dtype), [0, 1, 3, 2]);
}

/**
 * The transpose of {@link maxPoolTranspose}: from `t` `[V, N, C, ...spatial]`,
 * the element each window selected, `[V, N, C, L]`.
 */
function gatherSelected(t: Tensor, argmax: Tensor, window: WindowGeometry, dtype: FloatDType): Tensor {
  const [v, n, c] = t.shape as [number, number, number];
  const k = sizeOf(window.kernel);
  const l = argmax.shape[2]!;
  const columns = reshape(unfold(reshape(t, [v * n, c, ...t.shape.slice(3)]), window), [v, n, c, k, l]);
  return sum(mul(columns, selection(argmax, k, dtype)), 3);
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
  const dtype = mat.dtype;
  const outShape = [v, n, c, ...spatial];
  // Kernels never see empty tensors (an empty mat, or no spatial elements): the path below handles them.
  const native =
    mat.size > 0 && sizeOf(outShape) > 0 ? backend.maxPoolTranspose?.(mat.handle, mat.shape, argmax.handle, spatial, window, dtype) : undefined;
  const out =
    native !== undefined
      ? new Tensor(backend, native, outShape, mat.dtype)
      : noGrad(() => {
          const k = sizeOf(window.kernel);
          const columns = reshape(mul(reshape(mat, [v, n, c, 1, l]), selection(argmax, k, dtype)), [v * n, c * k, l]);
          return reshape(fold(columns, spatial, window), outShape);
        });
  // Linear in mat: the JVP applies the op to the tangent, the VJP gathers.
  return record('maxPoolTranspose', [mat, argmax], out, () => ({
    vjp: (g) => [mergingLead(g, out.rank, (image) => gatherSelected(image, argmax, window, dtype)), undefined],
    jvp: ([t]) => mergingLead(t!, mat.rank, (m) => maxPoolTranspose(m, argmax, spatial, window)),
  }));
}
