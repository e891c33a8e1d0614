/**
 * The backend contract: the kernels every tensor backend implements.
 *
 * Storage is opaque to core (`H`, a "handle"). Every handle holds a dense,
 * row-major (C order) array; core tracks shape and dtype and passes them in,
 * so a backend never has to remember them. Kernels never modify their inputs
 * and always return a fresh handle (a backend may share memory internally, for
 * example for `reshape`, as long as `dispose` stays correct).
 *
 * Kernels are never called with empty tensors: where an operand or the
 * result of an op has no elements, core computes the result itself (PyTorch's:
 * an empty tensor, zeros for a sum over an empty axis or a matrix product
 * over k = 0, the value for padding; an error for the maximum, minimum or
 * argmax of no elements) and calls `full` instead of the kernel. Only
 * `fromData`, `full`, `read` and `dispose` see tensors with zero elements.
 *
 * Keep the required set small: everything else in core (einsum, losses,
 * module derivatives) is written on top of these kernels, so a new backend gets
 * every module and every extension for free.
 */

/** Floating point element types. */
export type FloatDType = 'float32' | 'float64';
/** All element types. `int32` is for indices: class targets, embedding ids, argmax. */
export type DType = FloatDType | 'int32';
/** A shape: one non-negative integer per dimension. */
export type Shape = readonly number[];
/** The typed array that holds data of each dtype when read back to JavaScript. */
export type DataArray = Float32Array | Float64Array | Int32Array;
/**
 * The typed array that holds data of dtype `D` when read back:
 * `Float64Array` for `'float64'`, `Float32Array` for `'float32'`,
 * `Int32Array` for `'int32'`, and the union {@link DataArray} when the dtype
 * is not known statically.
 */
export type ArrayOf<D extends DType> = D extends 'float64' ? Float64Array : D extends 'float32' ? Float32Array : Int32Array;

/** Elementwise functions of one argument. */
export type UnaryOp =
  | 'neg'
  | 'abs'
  /** -1, 0 or 1; 0 for NaN, as PyTorch. */
  | 'sign'
  | 'exp'
  | 'expm1'
  | 'log'
  | 'log1p'
  | 'sqrt'
  | 'square'
  | 'reciprocal'
  | 'tanh'
  | 'sigmoid'
  /** max(x, 0) */
  | 'relu'
  /** 1 where x > 0, else 0 (the derivative of relu, with PyTorch's choice at 0). */
  | 'step'
  /** log(1 + exp(x)), computed without overflow. */
  | 'softplus';

/**
 * Elementwise functions of two arguments. Comparisons return 1 or 0 in the
 * dtype of their inputs.
 */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'greater'
  | 'greaterEqual'
  | 'equal';

/** Reductions over a set of axes. Core reduces int32 tensors only with `sum`. */
export type ReduceOp = 'sum' | 'max' | 'min';

/**
 * A sliding window over the spatial dimensions of `[N, C, ...spatial]`
 * (convolution, pooling): one entry per spatial dimension. Padding is the
 * same on both sides of a dimension and filled with zeros.
 */
export interface WindowGeometry {
  /** Window size per spatial dimension. */
  readonly kernel: readonly number[];
  /** Step between window positions per spatial dimension. */
  readonly stride: readonly number[];
  /** Padding added on both sides of each spatial dimension. */
  readonly padding: readonly number[];
  /** Spacing between window taps per spatial dimension (1: adjacent). */
  readonly dilation: readonly number[];
}

/**
 * A tensor backend. `H` is the backend's handle type.
 *
 * Shapes passed to a kernel are those of the handles passed with them. Where a
 * kernel takes several operands, they share `dtype`.
 */
export interface Backend<H = unknown> {
  /** Short name used in messages, e.g. `"cpu"`. */
  readonly name: string;
  /** The dtypes this backend stores. Core refuses the others with a clear error. */
  readonly dtypes: readonly DType[];

  // ---- creation and read-back ----
  /** Copies `data` (length = product of `shape`) into new storage. */
  fromData(data: ArrayLike<number>, shape: Shape, dtype: DType): H;
  /** New storage filled with `value`. */
  full(shape: Shape, value: number, dtype: DType): H;
  /** Copies the data back to JavaScript (a synchronisation point on native backends). */
  read(x: H, shape: Shape, dtype: DType): DataArray;
  /** Releases the storage. Core never uses a handle after disposing it. */
  dispose(x: H): void;
  /** Number of live handles, for leak tests; backends with garbage-collected storage may omit it. */
  liveCount?(): number;

  // ---- layout ----
  /** The same elements in a new shape of equal size. */
  reshape(x: H, shape: Shape, newShape: Shape, dtype: DType): H;
  /** Dimensions reordered: output dim `i` is input dim `perm[i]`. */
  permute(x: H, shape: Shape, perm: readonly number[], dtype: DType): H;
  /** The block `[begin, begin + size)` along every dimension. */
  slice(x: H, shape: Shape, begin: readonly number[], size: readonly number[], dtype: DType): H;
  /** Joins tensors along `axis`; all other dimensions agree. */
  concat(xs: readonly H[], shapes: readonly Shape[], axis: number, dtype: DType): H;
  /** Pads every dimension with `value`: `before[i] >= 0` elements in front, `after[i] >= 0` behind. */
  pad(
    x: H,
    shape: Shape,
    before: readonly number[],
    after: readonly number[],
    value: number,
    dtype: DType,
  ): H;
  /** Converts elements to another dtype (float to int32 truncates toward zero). */
  cast(x: H, shape: Shape, from: DType, to: DType): H;

  // ---- elementwise ----
  /** Applies the elementwise function `op` to a float tensor; same shape and dtype. */
  unary(op: UnaryOp, x: H, shape: Shape, dtype: DType): H;
  /**
   * Elementwise with NumPy broadcasting. Core passes both shapes at the rank of
   * `outShape` (padded with leading ones); each dim is the output's or 1.
   */
  binary(op: BinaryOp, a: H, aShape: Shape, b: H, bShape: Shape, outShape: Shape, dtype: DType): H;
  /** `op(x, scalar)` for every element, e.g. `mul` by 1/N without allocating a tensor for the scalar. */
  binaryScalar(op: BinaryOp, x: H, shape: Shape, scalar: number, dtype: DType): H;

  // ---- reductions ----
  /** Reduces over `axes` (sorted, unique); the output has those dimensions removed. */
  reduce(op: ReduceOp, x: H, shape: Shape, axes: readonly number[], dtype: DType): H;

  // ---- linear algebra ----
  /**
   * Batched matrix product. `a` is `[batchA, m, k]` (or `[batchA, k, m]` when
   * `transA`), `b` is `[batchB, k, n]` (or `[batchB, n, k]` when `transB`);
   * `batchA` and `batchB` are equal or one of them is 1 (broadcast). Output
   * `[batch, m, n]` with `batch` their broadcast (`batchA === 1 ? batchB : batchA`).
   */
  matmul(a: H, aShape: Shape, b: H, bShape: Shape, transA: boolean, transB: boolean, dtype: DType): H;

  // ---- sliding windows (convolution, pooling) ----
  /**
   * im2col: `x` is `[N, C, ...spatial]`; returns `[N, C * K, L]` where K is the
   * number of kernel positions and L the number of window positions (the
   * output's spatial size, row-major). Row `c * K + k` holds channel c at
   * kernel offset k (kernel offsets row-major), so a convolution weight
   * `[out, C, ...kernel]` flattened to `[out, C * K]` multiplies it directly.
   * Positions in the padding read 0.
   */
  unfold(x: H, shape: Shape, window: WindowGeometry, dtype: DType): H;
  /**
   * col2im, the transpose of `unfold`: `cols` is `[N, C * K, L]`; returns
   * `[N, C, ...spatial]` where every element is the sum of the column entries
   * that `unfold` would have read from it (entries landing in the padding
   * are dropped). `spatial` is the size of the result.
   */
  fold(cols: H, colsShape: Shape, spatial: readonly number[], window: WindowGeometry, dtype: DType): H;
  /** Index of the largest element along `axis` (the first one when tied), as int32; the axis is removed. */
  argmax(x: H, shape: Shape, axis: number, dtype: DType): H;
  /**
   * Optional, a faster max pooling: for `x` `[N, C, ...spatial]` (float),
   * the maximum of every window, `[N, C, ...out]`, and the position of that
   * maximum inside its window, `[N, C, L]` int32 in `[0, K)` (kernel offsets
   * row-major; the first maximum when tied; the padding never wins): exactly
   * what a max and an `argmax` over the windows `unfold` reads (with the
   * padding at -∞) give. A backend may return `undefined` for any call (a
   * dtype or geometry it lacks, NaN or -∞ in `x`); core then takes that
   * path itself.
   */
  maxPool?(
    x: H,
    shape: Shape,
    window: WindowGeometry,
    dtype: FloatDType,
  ):
    | {
        /** The maxima, `[N, C, ...out]`. */
        values: H;
        /** Position of each maximum inside its window, `[N, C, L]` int32. */
        argmax: H;
      }
    | undefined;
  /**
   * Optional, the transpose of max pooling (its input gradient): every
   * entry of `mat` `[V, N, C, L]` added to the input element its window
   * selected (`argmax` `[N, C, L]` int32, positions inside the windows as
   * `maxPool` returns them), `[V, N, C, ...spatial]`, 0 where no window
   * selected. `undefined` to decline; core then folds a one-hot product.
   */
  maxPoolTranspose?(
    mat: H,
    matShape: Shape,
    argmax: H,
    spatial: readonly number[],
    window: WindowGeometry,
    dtype: FloatDType,
  ): H | undefined;
  /**
   * Optional, a convolution in one call: `x` `[N, C, ...spatial]` (float),
   * `weight` `[O, C / groups, ...window.kernel]` and, if given, `bias` `[O]`;
   * returns `[N, O, ...out]`, exactly what `unfold`, a matrix product with
   * the weight per channel group and the bias added along dimension 1 give.
   * `undefined` to decline any call (a dtype or geometry it lacks); core
   * then unfolds.
   */
  conv?(
    x: H,
    xShape: Shape,
    weight: H,
    weightShape: Shape,
    bias: H | undefined,
    window: WindowGeometry,
    groups: number,
    dtype: FloatDType,
  ): H | undefined;
  /**
   * Optional, the transpose of `conv` in its input (the input gradient; a
   * transposed convolution): `mat` `[B, O, ...out]`, with `out` the window
   * positions over `spatial`, and `weight` as for `conv`; returns
   * `[B, C, ...spatial]`, what the product with each group's transposed
   * weight and a `fold` give. `undefined` to decline; core then folds.
   */
  convTranspose?(
    mat: H,
    matShape: Shape,
    weight: H,
    weightShape: Shape,
    spatial: readonly number[],
    window: WindowGeometry,
    groups: number,
    dtype: FloatDType,
  ): H | undefined;
  /**
   * Optional, the transpose of `conv` in its weight, summed over the batch
   * (the weight gradient): for `x` `[N, C, ...spatial]` and `mat`
   * `[V, N, O, ...out]`, the `[V, O, C / groups, ...window.kernel]` whose entry
   * `[v, o, c, k]` is `Σ_n Σ_l mat[v, n, o, l] · unfold(x)[n, c·K + k, l]`
   * (c within o's group). `undefined` to decline; core then unfolds.
   */
  convWeightGrad?(x: H, xShape: Shape, mat: H, matShape: Shape, window: WindowGeometry, groups: number, dtype: FloatDType): H | undefined;

  // ---- neural-network kernels ----
  /** Softmax along `axis`, numerically stable. */
  softmax(x: H, shape: Shape, axis: number, dtype: DType): H;
  /** Log-softmax along `axis`, numerically stable. */
  logSoftmax(x: H, shape: Shape, axis: number, dtype: DType): H;
  /**
   * One-hot encoding of int32 `indices` (any shape S) into a new last
   * dimension of size `depth`: output `[...S, depth]` in `dtype`. Core checks
   * the indices are in range before calling.
   */
  oneHot(indices: H, shape: Shape, depth: number, dtype: FloatDType): H;
}
