import type { WindowGeometry } from '../backend/backend.js';
import type { GraphNode } from './leaf-module.js';
import { fullLike, ones, tensor } from '../ops/create.js';
import { div, mul } from '../ops/elementwise.js';
import { einsum } from '../ops/einsum.js';
import { reshape, transpose } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { fold, maxPool, maxPoolTranspose, unfold, windowOutputSize } from '../ops/window.js';
import { tidy } from '../tensor/scope.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeafModule } from './leaf-module.js';
import { expandTuple, expectSpatialInput } from './spatial.js';

/** A PyTorch "int or tuple" argument: one number for every spatial dimension, or one each. */
export type SpatialSize = number | readonly number[];

/** Options of {@link MaxPool1d}, {@link MaxPool2d}, {@link MaxPool3d} (PyTorch's defaults). */
export interface MaxPoolOptions {
  /** Step between windows (default: the kernel size). */
  readonly stride?: SpatialSize;
  /** Implicit -∞ padding on both sides of every spatial dimension, at most half the kernel size (default 0). */
  readonly padding?: SpatialSize;
  /** Spacing between kernel elements (default 1). */
  readonly dilation?: SpatialSize;
}

/** Options of {@link AvgPool1d}, {@link AvgPool2d}, {@link AvgPool3d} (PyTorch's defaults). */
export interface AvgPoolOptions {
  /** Step between windows (default: the kernel size). */
  readonly stride?: SpatialSize;
  /** Implicit zero padding on both sides of every spatial dimension, at most half the kernel size (default 0). */
  readonly padding?: SpatialSize;
  /** Divide by the full kernel size (true, the default) or by the number of non-padding elements of each window. */
  readonly countIncludePad?: boolean;
}

/** PyTorch's check: padding may be at most half the kernel size (rounded down) in every dimension. */
function checkHalfKernelPadding(where: string, kernel: readonly number[], padding: readonly number[]): void {
  const bad = padding.findIndex((p, i) => p > Math.floor(kernel[i]! / 2));
  if (bad >= 0) {
    throw new RangeError(
      `${where}: padding should be at most half of kernel size, but got padding [${padding.join(', ')}] and kernel size [${kernel.join(', ')}] (spatial dimension ${bad}: ${padding[bad]} > ${kernel[bad]} / 2)`,
    );
  }
}

/** Common geometry of the sliding-window pools. */
abstract class WindowPool extends LeafModule {
  /** Window size per spatial dimension. */
  readonly kernelSize: readonly number[];
  /** Step between windows per spatial dimension (default: the kernel size). */
  readonly stride: readonly number[];
  /** Padding per spatial dimension (both sides). */
  readonly padding: readonly number[];
  /** The window with the module's padding (what `unfold`/`fold` of the unpadded input use). */
  protected readonly window: WindowGeometry;

  constructor(
    /** Module type as PyTorch spells it (`'MaxPool2d'`). */
    readonly typeName: string,
    /** Number of spatial dimensions (1, 2 or 3). */
    readonly spatialDims: number,
    kernelSize: SpatialSize,
    stride: SpatialSize | undefined,
    padding: SpatialSize | undefined,
    dilation: SpatialSize | undefined,
  ) {
    super();
    this.kernelSize = expandTuple(typeName, 'kernelSize', kernelSize, spatialDims, 1);
    this.stride = expandTuple(typeName, 'stride', stride ?? kernelSize, spatialDims, 1);
    this.padding = expandTuple(typeName, 'padding', padding ?? 0, spatialDims, 0);
    const dilations = expandTuple(typeName, 'dilation', dilation ?? 1, spatialDims, 1);
    checkHalfKernelPadding(typeName, this.kernelSize, this.padding);
    this.window = { kernel: this.kernelSize, stride: this.stride, padding: this.padding, dilation: dilations };
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    const x = expectSpatialInput(this, inputs, this.spatialDims);
    // Throws, naming the module, when the kernel does not fit the padded input.
    windowOutputSize(x.shape.slice(2), this.window, this.describe());
  }

  /** Output spatial size for input `x`. */
  protected outputSpatial(x: Tensor): number[] {
    return windowOutputSize(x.shape.slice(2), this.window, this.describe());
  }

  /**
   * Transpose of unfolding: `cols` `[V, N, C, K, L]` (or anything of that size)
   * summed back into `[V, N, C, ...input spatial]`; entries in the padding are dropped.
   */
  protected foldBack(node: GraphNode, cols: Tensor, v: number): Tensor {
    const x = node.input;
    return reshape(this.foldWindows(node, cols, v * x.shape[0]!), [v, ...x.shape]);
  }

  /** `cols` `[B, C, K, L]` (or anything of that size) summed back into `[B, C, ...input spatial]`. */
  protected foldWindows(node: GraphNode, cols: Tensor, batch: number): Tensor {
    const c = node.input.shape[1]!;
    const [k, l] = [sizeOf(this.kernelSize), sizeOf(node.output.shape.slice(2))];
    return fold(reshape(cols, [batch, c * k, l]), node.input.shape.slice(2), this.window);
  }
}

/**
 * Max pooling over windows (as `nn.MaxPoolNd` with `ceil_mode=False`):
 * input `[N, C, ...spatial]`, padded with -∞. The index of each window's
 * maximum (the first one when tied, as PyTorch) is saved; the derivative
 * routes each output's entry to that input element.
 */
export abstract class MaxPoolNd extends WindowPool {
  /** Spacing between window taps per spatial dimension. */
  readonly dilation: readonly number[];

  constructor(typeName: string, spatialDims: number, kernelSize: SpatialSize, options: MaxPoolOptions = {}) {
    super(typeName, spatialDims, kernelSize, options.stride, options.padding, options.dilation);
    this.dilation = this.window.dilation;
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const { values, argmax } = maxPool(inputs[0]!, this.window);
    saved['argmax'] = argmax; // [N, C, L], int32
    return values;
  }

  jacTMatProd(node: GraphNode, mat: Tensor, _inputIndex = 0): Tensor {
    const [n, c] = [node.input.shape[0]!, node.input.shape[1]!];
    const matWindows = reshape(mat, [mat.shape[0]!, n, c, sizeOf(node.output.shape.slice(2))]);
    return maxPoolTranspose(matWindows, node.saved['argmax']!, node.input.shape.slice(2), this.window);
  }

  /** True when no input element lies in two windows: along every dimension the stride is at least the window's span. */
  private get windowsAreDisjoint(): boolean {
    return this.kernelSize.every((k, d) => this.stride[d]! >= this.dilation[d]! * (k - 1) + 1);
  }

  /**
   * KFRA's batch average `(1/N) Σ_n J_nᵀ M J_n` for a symmetric `mat` M
   * `[D_out, D_out]`. With disjoint windows, J_n copies output u to the
   * element s_n(u) its window selected, so `(J_nᵀ M J_n)[i, j] =
   * M[w(i), w(j)] [i, j both selected]` (w(i): the window holding input i):
   * M spread over the windows (E ᵀ M E, the same for every sample) times
   * `(1/N) Σ_n s_n s_nᵀ` (s_n: 1 where sample n's windows selected). One
   * product of `[D_in, N]` matrices instead of `[D, N, D]` tensors.
   * Overlapping windows take the generic product.
   */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    if (!this.windowsAreDisjoint) return super.eaJacTMatJacProd(node, mat);
    // Scoped: the [D_in, D_in] intermediates are released as soon as the product exists.
    return tidy(() => {
      const n = node.batchSize;
      const dIn = sizeOf(node.input.shape.slice(1));
      const selected = reshape(this.jacTMatProd(node, ones([1, ...node.output.shape], { backend: mat.backend, dtype: mat.dtype })), [n, dIn]);
      const selectedTogether = einsum('ni,nj->ij', selected, mul(selected, 1 / n));
      const spread = this.spreadOverWindows(node, transpose(this.spreadOverWindows(node, mat), 0, 1));
      return mul(spread, selectedTogether);
    });
  }

  /** Every row `[R, D_out]` of `rows` with each window's value copied to all the input elements of its window: `[R, D_in]`. */
  private spreadOverWindows(node: GraphNode, rows: Tensor): Tensor {
    const count = rows.shape[0]!;
    const c = node.input.shape[1]!;
    const [k, l] = [sizeOf(this.kernelSize), sizeOf(node.output.shape.slice(2))];
    const copies = mul(reshape(rows, [count, c, 1, l]), ones([1, 1, k, 1], { backend: rows.backend, dtype: rows.dtype }));
    return reshape(this.foldWindows(node, copies, count), [count, -1]);
  }
}

/** 1-d max pooling, input `[N, C, L]` (as `nn.MaxPool1d`). */
export class MaxPool1d extends MaxPoolNd {
  constructor(kernelSize: SpatialSize, options: MaxPoolOptions = {}) {
    super('MaxPool1d', 1, kernelSize, options);
  }
}

/** 2-d max pooling, input `[N, C, H, W]` (as `nn.MaxPool2d`). */
export class MaxPool2d extends MaxPoolNd {
  constructor(kernelSize: SpatialSize, options: MaxPoolOptions = {}) {
    super('MaxPool2d', 2, kernelSize, options);
  }
}

/** 3-d max pooling, input `[N, C, D, H, W]` (as `nn.MaxPool3d`). */
export class MaxPool3d extends MaxPoolNd {
  constructor(kernelSize: SpatialSize, options: MaxPoolOptions = {}) {
    super('MaxPool3d', 3, kernelSize, options);
  }
}

/**
 * Average pooling over windows (as `nn.AvgPoolNd` with `ceil_mode=False`):
 * input `[N, C, ...spatial]`, zero padding. Each window's sum is divided by
 * the kernel size, or with `countIncludePad: false` by the number of its
 * elements that are not padding (counted once per forward pass by unfolding ones).
 */
export abstract class AvgPoolNd extends WindowPool {
  /** Whether padding counts in the divisor (default true, as PyTorch). */
  readonly countIncludePad: boolean;

  constructor(typeName: string, spatialDims: number, kernelSize: SpatialSize, options: AvgPoolOptions = {}) {
    super(typeName, spatialDims, kernelSize, options.stride, options.padding, 1);
    this.countIncludePad = options.countIncludePad ?? true;
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const x = inputs[0]!;
    const [n, c] = [x.shape[0]!, x.shape[1]!];
    const outSpatial = this.outputSpatial(x);
    const [k, l] = [sizeOf(this.kernelSize), sizeOf(outSpatial)];
    const sums = sum(reshape(unfold(x, this.window), [n, c, k, l]), 2);
    if (this.countIncludePad || this.padding.every((p) => p === 0)) {
      return reshape(mul(sums, 1 / k), [n, c, ...outSpatial]);
    }
    // Non-padding elements per window: unfold a tensor of ones, [L].
    const inside = ones([1, 1, ...x.shape.slice(2)], { backend: x.backend, dtype: x.dtype });
    saved['counts'] = reshape(sum(unfold(inside, this.window), 1), [l]);
    return reshape(div(sums, saved['counts']), [n, c, ...outSpatial]);
  }

  jacTMatProd(node: GraphNode, mat: Tensor, _inputIndex = 0): Tensor {
    const [n, c] = [node.input.shape[0]!, node.input.shape[1]!];
    const v = mat.shape[0]!;
    const [k, l] = [sizeOf(this.kernelSize), sizeOf(node.output.shape.slice(2))];
    const counts = node.saved['counts'];
    const flat = reshape(mat, [v * n, c, 1, l]);
    const scaled = counts === undefined ? mul(flat, 1 / k) : div(flat, counts);
    // Every kernel position of a window gets the same share: [V N, C, K, L].
    return this.foldBack(node, mul(scaled, fullLike(mat, 1, [1, 1, k, 1])), v);
  }
}

/** 1-d average pooling, input `[N, C, L]` (as `nn.AvgPool1d`). */
export class AvgPool1d extends AvgPoolNd {
  constructor(kernelSize: SpatialSize, options: AvgPoolOptions = {}) {
    super('AvgPool1d', 1, kernelSize, options);
  }
}

/** 2-d average pooling, input `[N, C, H, W]` (as `nn.AvgPool2d`). */
export class AvgPool2d extends AvgPoolNd {
  constructor(kernelSize: SpatialSize, options: AvgPoolOptions = {}) {
    super('AvgPool2d', 2, kernelSize, options);
  }
}

/** 3-d average pooling, input `[N, C, D, H, W]` (as `nn.AvgPool3d`). */
export class AvgPool3d extends AvgPoolNd {
  constructor(kernelSize: SpatialSize, options: AvgPoolOptions = {}) {
    super('AvgPool3d', 3, kernelSize, options);
  }
}

/** Output size of an adaptive pool: one number for all spatial dimensions or one each; `null` keeps the input's size. */
export type AdaptiveOutputSize = number | readonly (number | null)[];

/**
 * `[out, in]`: row i averages PyTorch's window `[floor(i in / out), ceil((i + 1) in / out))`.
 */
function averagingMatrix(inSize: number, outSize: number, like: Tensor): Tensor {
  const data = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    for (let j = start; j < end; j++) data[i * inSize + j] = 1 / (end - start);
  }
  return tensor(data, [outSize, inSize], { backend: like.backend, dtype: like.dtype });
}

const IN_LETTERS = 'xyz';
const OUT_LETTERS = 'ijk';

/**
 * Applies one `[out, in]` matrix per spatial dimension of `x` `[B, C, ...]`:
 * forward maps `in -> out`, `transposed` maps `out -> in` (the transposed Jacobian).
 */
function applySeparable(x: Tensor, matrices: readonly Tensor[], transposed: boolean): Tensor {
  let current = x;
  const letters = ['b', 'c', ...matrices.map((_, d) => (transposed ? OUT_LETTERS[d]! : IN_LETTERS[d]!))];
  matrices.forEach((matrix, d) => {
    const next = [...letters];
    next[d + 2] = transposed ? IN_LETTERS[d]! : OUT_LETTERS[d]!;
    current = einsum(`${letters.join('')},${OUT_LETTERS[d]}${IN_LETTERS[d]}->${next.join('')}`, current, matrix);
    letters[d + 2] = next[d + 2]!;
  });
  return current;
}

/**
 * Adaptive average pooling (as `nn.AdaptiveAvgPoolNd`): output element i of a
 * spatial dimension averages the input window `[floor(i In/Out), ceil((i+1) In/Out))`,
 * for any input and output sizes. The pooling is separable: one averaging
 * matrix per spatial dimension, applied with einsum; the derivative applies
 * their transposes.
 */
export abstract class AdaptiveAvgPoolNd extends LeafModule {
  /** Output size per spatial dimension; `null` keeps the input's size. */
  readonly outputSize: readonly (number | null)[];

  constructor(
    /** Module type as PyTorch spells it (`'AdaptiveAvgPool2d'`). */
    readonly typeName: string,
    /** Number of spatial dimensions (1, 2 or 3). */
    readonly spatialDims: number,
    outputSize: AdaptiveOutputSize,
  ) {
    super();
    const sizes = typeof outputSize === 'number' ? new Array<number>(spatialDims).fill(outputSize) : [...outputSize];
    if (sizes.length !== spatialDims || sizes.some((s) => s !== null && (!Number.isInteger(s) || s < 1))) {
      throw new RangeError(
        `${typeName}: outputSize must be an integer >= 1 or ${spatialDims} of them (null keeps the input size), got ${typeof outputSize === 'number' ? outputSize : `[${outputSize.join(', ')}]`}`,
      );
    }
    this.outputSize = sizes;
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    const x = expectSpatialInput(this, inputs, this.spatialDims);
    if (x.shape.slice(2).some((d) => d === 0)) {
      throw new RangeError(`${this.describe()}: input of shape ${formatShape(x.shape)} has an empty spatial dimension`);
    }
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const x = inputs[0]!;
    const matrices = x.shape.slice(2).map((size, d) => averagingMatrix(size, this.outputSize[d] ?? size, x));
    matrices.forEach((matrix, d) => (saved[`average${d}`] = matrix));
    return applySeparable(x, matrices, false);
  }

  jacTMatProd(node: GraphNode, mat: Tensor, _inputIndex = 0): Tensor {
    const v = mat.shape[0]!;
    const n = node.batchSize;
    const matrices = Array.from({ length: this.spatialDims }, (_, d) => node.saved[`average${d}`]!);
    const flat = reshape(mat, [v * n, ...mat.shape.slice(2)]);
    return reshape(applySeparable(flat, matrices, true), [v, ...node.input.shape]);
  }
}

/** 1-d adaptive average pooling, input `[N, C, L]` (as `nn.AdaptiveAvgPool1d`). */
export class AdaptiveAvgPool1d extends AdaptiveAvgPoolNd {
  constructor(outputSize: AdaptiveOutputSize) {
    super('AdaptiveAvgPool1d', 1, outputSize);
  }
}

/** 2-d adaptive average pooling, input `[N, C, H, W]` (as `nn.AdaptiveAvgPool2d`). */
export class AdaptiveAvgPool2d extends AdaptiveAvgPoolNd {
  constructor(outputSize: AdaptiveOutputSize) {
    super('AdaptiveAvgPool2d', 2, outputSize);
  }
}

/** 3-d adaptive average pooling, input `[N, C, D, H, W]` (as `nn.AdaptiveAvgPool3d`). */
export class AdaptiveAvgPool3d extends AdaptiveAvgPoolNd {
  constructor(outputSize: AdaptiveOutputSize) {
    super('AdaptiveAvgPool3d', 3, outputSize);
  }
}
