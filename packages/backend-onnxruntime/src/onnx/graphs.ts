/**
 * The ONNX graphs behind the kernels that run on ONNX Runtime. Every graph
 * reads inputs `a` (and `b`, `c`) and writes `y`; dimensions are symbolic, so
 * one session serves every shape of a given rank (except where a graph says
 * it is built for one shape).
 *
 * Where an ONNX operator's edge cases differ from the backend contract
 * (PyTorch's semantics), the graph composes operators that agree:
 * `sign(NaN) = 0`, max/min reductions propagate NaN, `expm1` and `log1p`
 * stay accurate near 0, float64 `softplus` does not overflow.
 */
import { sizeOf, type BinaryOp, type DType, type ReduceOp, type UnaryOp, type WindowGeometry } from '@backpack-ts/core';
import { OnnxType, type GraphSpec, type NodeSpec, type TensorSpec } from './proto.js';

export type OrtDType = DType;

function dims(prefix: string, rank: number): string[] {
  return Array.from({ length: rank }, (_, i) => `${prefix}${i}`);
}

/**
 * Builds a graph node by node, with named constants. `dtype` is the default
 * element type of scalar constants and casts; a graph of several dtypes (a
 * compiled step) passes theirs.
 */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorSpec[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  constructor(readonly dtype: OrtDType) {}

  /** Adds a node and returns its (single) output name; `output` names it explicitly. */
  node(op: string, inputs: readonly string[], attributes?: NodeSpec['attributes'], output?: string, domain?: string): string {
    const name = output ?? `t${this.counter++}`;
    this.nodes.push({ op, inputs, outputs: [name], ...(attributes && { attributes }), ...(domain !== undefined && { domain }) });
    return name;
  }

  /** A scalar constant of `dtype` (default the graph's). */
  constant(value: number, dtype: OrtDType = this.dtype): string {
    const key = `${dtype}:${value}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = `c${this.constants.size}`;
      this.constants.set(key, name);
      this.initializers.push({ name, type: dtype, dims: [], values: [value] });
    }
    return name;
  }

  /** An int64 constant, 1-d unless `shape` is given. */
  int64s(values: readonly number[], shape: readonly number[] = [values.length]): string {
    const name = `i${this.initializers.length}`;
    this.initializers.push({ name, type: 'int64', dims: shape, values });
    return name;
  }

  /** A boolean converted to `dtype` (1 or 0; default the graph's dtype). */
  toDType(input: string, output?: string, dtype: OrtDType = this.dtype): string {
    return this.node('Cast', [input], { to: OnnxType[dtype] }, output);
  }

  /** `input` with dimensions `shape` (same size). */
  reshape(input: string, shape: readonly number[], output?: string): string {
    return this.node('Reshape', [input, this.int64s(shape)], undefined, output);
  }

  /** The graph; the output has the graph's dtype unless `outputType` says otherwise. */
  graph(inputRanks: readonly number[], outputRank: number, outputType: OrtDType = this.dtype): GraphSpec {
    const names = ['a', 'b', 'c'];
    return {
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: inputRanks.map((rank, i) => ({ name: names[i]!, type: this.dtype, dims: dims(names[i]!, rank) })),
      outputs: [{ name: 'y', type: outputType, dims: dims('y', outputRank) }],
    };
  }
}

const SIMPLE_UNARY: Partial<Record<UnaryOp, string>> = {
  neg: 'Neg',
  abs: 'Abs',
  exp: 'Exp',
  log: 'Log',
  sqrt: 'Sqrt',
  reciprocal: 'Reciprocal',
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
  relu: 'Relu',
};

/** `op` elementwise on float `x` of `dtype`; returns the output's name. */
export function emitUnary(g: GraphBuilder, op: UnaryOp, dtype: OrtDType, x: string, output?: string): string {
  const onnxOp = SIMPLE_UNARY[op];
  if (onnxOp !== undefined) return g.node(onnxOp, [x], undefined, output);
  switch (op) {
    case 'square':
      return g.node('Mul', [x, x], undefined, output);
    case 'sign': {
      // ONNX Sign(NaN) is NaN; (x > 0) - (x < 0) gives PyTorch's 0.
      const positive = g.toDType(g.node('Greater', [x, g.constant(0, dtype)]), undefined, dtype);
      const negative = g.toDType(g.node('Less', [x, g.constant(0, dtype)]), undefined, dtype);
      return g.node('Sub', [positive, negative], undefined, output);
    }
    case 'step':
      return g.toDType(g.node('Greater', [x, g.constant(0, dtype)]), output, dtype);
    case 'expm1': {
      // exp(x) - 1 cancels near 0; there e^x - 1 = 2t / (1 - t) with t = tanh(x / 2) is exact to rounding.
      const t = g.node('Tanh', [g.node('Mul', [x, g.constant(0.5, dtype)])]);
      const small = g.node('Div', [g.node('Add', [t, t]), g.node('Sub', [g.constant(1, dtype), t])]);
      const large = g.node('Sub', [g.node('Exp', [x]), g.constant(1, dtype)]);
      const nearZero = g.node('Less', [g.node('Abs', [x]), g.constant(0.5, dtype)]);
      return g.node('Where', [nearZero, small, large], undefined, output);
    }
    case 'log1p':
      return log1p(g, dtype, x, output);
    case 'softplus': {
      if (dtype === 'float32') return g.node('Softplus', [x], undefined, output);
      // ORT's float64 Softplus overflows for large x; max(x, 0) + log1p(exp(-|x|)) does not.
      const tail = log1p(g, dtype, g.node('Exp', [g.node('Neg', [g.node('Abs', [x])])]));
      return g.node('Add', [g.node('Relu', [x]), tail], undefined, output);
    }
    default:
      throw new Error(`no ONNX graph for unary op '${op}'`);
  }
}

/** `op` elementwise on a flat `[n]` input. */
export function unaryGraph(op: UnaryOp, dtype: OrtDType): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitUnary(g, op, dtype, 'a', 'y');
  return g.graph([1], 1);
}

/**
 * log(1 + x), accurate near 0: log(1 + x) alone loses x's low bits;
 * log(u) * x / (u - 1) with u = 1 + x corrects them (Goldberg).
 */
function log1p(g: GraphBuilder, dtype: OrtDType, x: string, output?: string): string {
  const u = g.node('Add', [x, g.constant(1, dtype)]);
  const d = g.node('Sub', [u, g.constant(1, dtype)]);
  const corrected = g.node('Div', [g.node('Mul', [g.node('Log', [u]), x]), d]);
  const exact = g.node('Equal', [d, g.constant(0, dtype)]);
  return g.node('Where', [exact, x, corrected], undefined, output);
}

const binaryOps: Readonly<Record<BinaryOp, { op: string; compare: boolean }>> = {
  add: { op: 'Add', compare: false },
  sub: { op: 'Sub', compare: false },
  mul: { op: 'Mul', compare: false },
  div: { op: 'Div', compare: false },
  pow: { op: 'Pow', compare: false },
  maximum: { op: 'Max', compare: false },
  minimum: { op: 'Min', compare: false },
  greater: { op: 'Greater', compare: true },
  greaterEqual: { op: 'GreaterOrEqual', compare: true },
  equal: { op: 'Equal', compare: true },
};

/** `op(a, b)` with NumPy broadcasting, comparisons as 1 or 0 in `dtype`. */
export function emitBinary(g: GraphBuilder, op: BinaryOp, dtype: OrtDType, a: string, b: string, output?: string): string {
  const { op: onnxOp, compare } = binaryOps[op];
  return compare ? g.toDType(g.node(onnxOp, [a, b]), output, dtype) : g.node(onnxOp, [a, b], undefined, output);
}

/** `op(a, b)` with NumPy broadcasting; `b` may be rank 0 (a scalar). */
export function binaryGraph(op: BinaryOp, dtype: OrtDType, rankA: number, rankB: number): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitBinary(g, op, dtype, 'a', 'b', 'y');
  return g.graph([rankA, rankB], Math.max(rankA, rankB));
}

/** Reduction of `x` over `axes`, dropping them. max/min propagate NaN (ONNX's skip it). */
export function emitReduce(g: GraphBuilder, op: ReduceOp, dtype: OrtDType, x: string, axes: readonly number[], output?: string): string {
  const onnxOp = op === 'sum' ? 'ReduceSum' : op === 'max' ? 'ReduceMax' : 'ReduceMin';
  const axesName = g.int64s(axes);
  if (op === 'sum' || dtype === 'int32') return g.node(onnxOp, [x, axesName], { keepdims: 0 }, output);
  const reduced = g.node(onnxOp, [x, axesName], { keepdims: 0 });
  const anyNaN = g.node('ReduceMax', [g.toDType(g.node('IsNaN', [x]), undefined, dtype), axesName], { keepdims: 0 });
  return g.node('Where', [g.node('Greater', [anyNaN, g.constant(0, dtype)]), g.constant(Number.NaN, dtype), reduced], undefined, output);
}

/** Reduction of a rank-`rank` input over `axes`, dropping them. max/min propagate NaN (ONNX's skip it). */
export function reduceGraph(op: ReduceOp, dtype: OrtDType, rank: number, axes: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitReduce(g, op, dtype, 'a', axes, 'y');
  return g.graph([rank], rank - axes.length);
}

/**
 * How a batched matrix product (the backend's `matmul`, `[batchA, ., .]` and
 * `[batchB, ., .]`, inner dimension `k`) runs on ORT: `outer`, a broadcast
 * multiplication, when k = 1 (a transpose then moves nothing, and
 * `out[., i, j] = a[., i] * b[., j]` is far cheaper than `batch` tiny
 * GEMMs); `gemm`, one Gemm, when B is shared and A's batch folds into its
 * rows (A not transposed) or there is no batch; else `fused`,
 * com.microsoft's FusedMatMul (float32, with a transpose), or `matmul`.
 */
export function matmulKind(
  aShape: readonly number[],
  bShape: readonly number[],
  transA: boolean,
  transB: boolean,
  dtype: OrtDType,
): 'outer' | 'gemm' | 'fused' | 'matmul' {
  if ((transA ? aShape[1] : aShape[2]) === 1) return 'outer';
  if (bShape[0] === 1 && (aShape[0] === 1 || !transA)) return 'gemm';
  return dtype === 'float32' && (transA || transB) ? 'fused' : 'matmul';
}

/**
 * One matrix product `a` `[m, k]` @ `b` `[k, n]` (operands given transposed
 * when `transA` / `transB`): ONNX Gemm, which hands the transposes to the
 * GEMM itself (MLAS) instead of copying.
 */
export function emitGemm(g: GraphBuilder, a: string, b: string, transA: boolean, transB: boolean, output?: string): string {
  return g.node('Gemm', [a, b], { transA: transA ? 1 : 0, transB: transB ? 1 : 0 }, output);
}

/** {@link emitGemm} as a graph of `a` and `b`. */
export function gemmGraph(dtype: OrtDType, transA: boolean, transB: boolean): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitGemm(g, 'a', 'b', transA, transB, 'y');
  return g.graph([2, 2], 2);
}

/**
 * Batched matrix product of `a` `[batchA, m, k]` and `b` `[batchB, k, n]`
 * (operands given transposed when `transA` / `transB`), batch broadcast.
 * With `fused`, com.microsoft's FusedMatMul takes the transposes itself (it
 * has float32 kernels only); otherwise Transpose nodes feed MatMul.
 */
export function emitBatchedMatmul(g: GraphBuilder, a: string, b: string, transA: boolean, transB: boolean, fused: boolean, output?: string): string {
  if (fused) {
    const attributes = { transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha: { float: 1 } };
    return g.node('FusedMatMul', [a, b], attributes, output, 'com.microsoft');
  }
  const left = transA ? g.node('Transpose', [a], { perm: [0, 2, 1] }) : a;
  const right = transB ? g.node('Transpose', [b], { perm: [0, 2, 1] }) : b;
  return g.node('MatMul', [left, right], undefined, output);
}

/** {@link emitBatchedMatmul} as a graph of `a` and `b`. */
export function batchedMatmulGraph(dtype: OrtDType, transA: boolean, transB: boolean, fused: boolean): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitBatchedMatmul(g, 'a', 'b', transA, transB, fused, 'y');
  return g.graph([3, 3], 3);
}

/** Softmax or log-softmax along axis 1 of a rank-2 `[outer, length]` or rank-3 `[outer, length, inner]` input. */
export function softmaxGraph(log: boolean, dtype: OrtDType, rank: 2 | 3): GraphSpec {
  const g = new GraphBuilder(dtype);
  g.node(log ? 'LogSoftmax' : 'Softmax', ['a'], { axis: 1 }, 'y');
  return g.graph([rank], rank);
}

/** Dimensions reordered: output dim i is input dim `perm[i]`. */
export function transposeGraph(dtype: OrtDType, perm: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  g.node('Transpose', ['a'], { perm }, 'y');
  return g.graph([perm.length], perm.length);
}

/**
 * col2im (the backend's `fold`) of `x` `[N, C * K, L]` into `[N, C, ...spatial]`:
 * ONNX Col2Im, which sums each column entry into the element unfold read it
 * from and drops entries in the padding. It adds the entries as they are, so
 * NaN and infinities land only where they belong (ConvTranspose with a
 * one-hot kernel would multiply them by its zeros: 0 * Inf = NaN in every
 * tap of the window). ORT 1.30 has float32 kernels only. A 1-d window runs
 * as a 2-d one of height 1: ORT's N-d path (ranks other than 2) ignores the
 * dilation when it counts window positions
 * (https://github.com/microsoft/onnxruntime/issues/18156), so callers send
 * 3-d windows only when every dilation is 1 ({@link foldOnOrt}).
 */
export function emitFold(g: GraphBuilder, x: string, spatial: readonly number[], window: WindowGeometry, output?: string): string {
  const lift = spatial.length === 1 ? [1] : [];
  const image = g.int64s([...lift, ...spatial]);
  const block = g.int64s([...lift, ...window.kernel]);
  const padding = [...lift.map(() => 0), ...window.padding];
  const attributes = { strides: [...lift, ...window.stride], pads: [...padding, ...padding], dilations: [...lift, ...window.dilation] };
  if (lift.length === 0) return g.node('Col2Im', [x, image, block], attributes, output);
  return g.node('Squeeze', [g.node('Col2Im', [x, image, block], attributes), g.int64s([2])], undefined, output);
}

/** {@link emitFold} as a graph of `a`. */
export function foldGraph(dtype: OrtDType, spatial: readonly number[], window: WindowGeometry): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitFold(g, 'a', spatial, window, 'y');
  return g.graph([3], 2 + spatial.length);
}

/** Whether {@link emitFold} computes this fold correctly on ORT 1.30 (see there): float32, rank 1-3, 3-d undilated. */
export function foldOnOrt(dtype: OrtDType, window: WindowGeometry): boolean {
  const rank = window.kernel.length;
  return dtype === 'float32' && rank >= 1 && rank <= 3 && (rank !== 3 || window.dilation.every((d) => d === 1));
}

/**
 * Index of the largest element of `x` along `axis` (the axis removed), as
 * int32 (ArgMax gives int64; the graph casts). ArgMax keeps the first
 * maximum (`select_last_index` 0) but does not treat NaN as the largest
 * value, as the contract does. For floats a second ArgMax finds each lane's
 * first NaN (of IsNaN as uint8; 0 in a lane without one), and lanes whose
 * element there is NaN take that index.
 */
export function emitArgmax(g: GraphBuilder, dtype: OrtDType, x: string, axis: number, output?: string): string {
  const first = g.node('ArgMax', [x], { axis, keepdims: 1 });
  let index = first;
  if (dtype !== 'int32') {
    const firstNaN = g.node('ArgMax', [g.node('Cast', [g.node('IsNaN', [x])], { to: OnnxType.uint8 })], { axis, keepdims: 1 });
    const hasNaN = g.node('IsNaN', [g.node('GatherElements', [x, firstNaN], { axis })]);
    index = g.node('Where', [hasNaN, firstNaN, first]);
  }
  return g.node('Squeeze', [g.node('Cast', [index], { to: OnnxType.int32 }), g.int64s([axis])], undefined, output);
}

/** {@link emitArgmax} along axis 1 of `[outer, length]` or `[outer, length, inner]`. */
export function argmaxGraph(dtype: OrtDType, rank: 2 | 3): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitArgmax(g, dtype, 'a', 1, 'y');
  return g.graph([rank], rank - 1, 'int32');
}

/**
 * Whether {@link maxPoolGraph} handles this window: windows that tile the
 * input (stride = kernel, no padding, no dilation), the usual
 * `MaxPool2d(k)`. ORT's MaxPool with its Indices output, which would take
 * any geometry, measured 17 ms against 2 ms without indices on the cnn
 * benchmark's first pooling, so the other geometries stay with core's path.
 */
export function maxPoolOnOrt(window: WindowGeometry): boolean {
  return window.kernel.every((k, d) => window.stride[d] === k && window.padding[d] === 0 && window.dilation[d] === 1);
}

/**
 * The windows of max pooling over tiling windows: `x` `[N, C, ...spatial]`
 * (its tail beyond the last whole window sliced off) reshaped to
 * `[N, C, O1, K1, ..., OD, KD]` and transposed to `[N, C, L, K]`, so that a
 * window lies along the contiguous last axis.
 */
export function emitPoolWindows(g: GraphBuilder, x: string, spatial: readonly number[], window: WindowGeometry, outSpatial: readonly number[]): string {
  const covered = outSpatial.map((o, d) => o * window.kernel[d]!);
  const axes = spatial.map((_, d) => d + 2);
  const whole = covered.every((size, d) => size === spatial[d]) ? x : g.node('Slice', [x, g.int64s(axes.map(() => 0)), g.int64s(covered), g.int64s(axes)]);
  const split = g.reshape(whole, [0, 0, ...outSpatial.flatMap((o, d) => [o, window.kernel[d]!])]);
  const perm = [0, 1, ...axes.map((_, d) => 2 + 2 * d), ...axes.map((_, d) => 3 + 2 * d)];
  return g.reshape(g.node('Transpose', [split], { perm }), [0, 0, -1, sizeOf(window.kernel)]);
}

/**
 * Max pooling of `[N, C, ...spatial]` over windows that tile it (the
 * backend's `maxPool`, see {@link maxPoolOnOrt}): ReduceMax and ArgMax (the
 * first maximum) along the windows of {@link emitPoolWindows}. Outputs `y`
 * (the maxima), `k` (`[N, C, L]` int32) and `hasNaN`, 1 when the sum of the
 * input is NaN: NaN somewhere (ArgMax does not rank NaN first, as the
 * contract does; the caller falls back), or both infinities (a harmless
 * fallback). -∞ needs no care here: a window of -∞ has its first position,
 * as in the contract.
 */
export function maxPoolGraph(dtype: OrtDType, spatial: readonly number[], window: WindowGeometry, outSpatial: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = spatial.length;
  const windows = emitPoolWindows(g, 'a', spatial, window, outSpatial);
  const last = g.int64s([-1]);
  g.reshape(g.node('ReduceMax', [windows, last], { keepdims: 0 }), [0, 0, ...outSpatial], 'y');
  g.node('Cast', [g.node('ArgMax', [windows], { axis: -1, keepdims: 0 })], { to: OnnxType.int32 }, 'k');
  g.toDType(g.node('IsNaN', [g.node('ReduceSum', ['a'], { keepdims: 0 })]), 'hasNaN');
  return {
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: 'a', type: dtype, dims: dims('a', rank + 2) }],
    outputs: [
      { name: 'y', type: dtype, dims: dims('y', rank + 2) },
      { name: 'k', type: 'int32', dims: dims('k', 3) },
      { name: 'hasNaN', type: dtype, dims: [] },
    ],
  };
}

/**
 * One-hot encoding of int32 indices `x` (any shape) into a new last
 * dimension of size `depth`, in `dtype`: each index compared with the
 * constant `0 .. depth - 1` (core has checked the range).
 */
export function emitOneHot(g: GraphBuilder, dtype: OrtDType, x: string, depth: number, output?: string): string {
  const classes = `range${depth}_${g.initializers.length}`;
  g.initializers.push({ name: classes, type: 'int32', dims: [depth], values: Array.from({ length: depth }, (_, i) => i) });
  return g.toDType(g.node('Equal', [g.node('Unsqueeze', [x, g.int64s([-1])]), classes]), output, dtype);
}

/** {@link emitOneHot} of flat indices `[M]` into `[M, depth]`. */
export function oneHotGraph(dtype: OrtDType, depth: number): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitOneHot(g, dtype, 'a', depth, 'y');
  return {
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: 'a', type: 'int32', dims: ['m'] }],
    outputs: [{ name: 'y', type: dtype, dims: ['m', 'depth'] }],
  };
}

/**
 * The transpose of {@link maxPoolGraph} (the backend's `maxPoolTranspose`),
 * for windows that tile the input: `mat` `[V, N, C, L]` times the one-hot of
 * the positions `argmax` `[N, C, L]` (int32), `[V, N, C, L, K]`, transposed
 * back from window order to the input grid and zero-padded over the tail no
 * window covers: `[V·N, C, ...spatial]` (the layout of `[V, N, C, ...spatial]`).
 */
export function emitMaxPoolTranspose(
  g: GraphBuilder,
  dtype: OrtDType,
  mat: string,
  argmax: string,
  channels: number,
  spatial: readonly number[],
  window: WindowGeometry,
  outSpatial: readonly number[],
  output?: string,
): string {
  const rank = spatial.length;
  const selected = emitOneHot(g, dtype, argmax, sizeOf(window.kernel));
  const routed = g.node('Mul', [g.node('Unsqueeze', [mat, g.int64s([-1])]), selected]);
  const byWindow = g.reshape(routed, [-1, channels, ...outSpatial, ...window.kernel]);
  const perm = [0, 1, ...spatial.flatMap((_, d) => [2 + d, 2 + rank + d])];
  const covered = outSpatial.map((o, d) => o * window.kernel[d]!);
  const grid = g.reshape(g.node('Transpose', [byWindow], { perm }), [-1, channels, ...covered]);
  const tails = spatial.map((size, d) => size - covered[d]!);
  if (tails.every((t) => t === 0)) return g.node('Identity', [grid], undefined, output);
  return g.node('Pad', [grid, g.int64s([0, 0, ...tails.map(() => 0), 0, 0, ...tails])], undefined, output);
}

/** {@link emitMaxPoolTranspose} as a graph of `a` (mat) and `b` (positions). */
export function maxPoolTransposeGraph(dtype: OrtDType, channels: number, spatial: readonly number[], window: WindowGeometry, outSpatial: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitMaxPoolTranspose(g, dtype, 'a', 'b', channels, spatial, window, outSpatial, 'y');
  return {
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'a', type: dtype, dims: dims('a', 4) },
      { name: 'b', type: 'int32', dims: dims('b', 3) },
    ],
    outputs: [{ name: 'y', type: dtype, dims: dims('y', spatial.length + 2) }],
  };
}

/**
 * Whether the convolution graphs run for `dtype`: ORT 1.30 has float32 Conv
 * and ConvTranspose kernels only (float64 stays with core's unfold path).
 */
export function convOnOrt(dtype: OrtDType): boolean {
  return dtype === 'float32';
}

/** A window as ONNX attributes (Conv, ConvTranspose): the same padding at both ends of every dimension. */
function windowAttributes(window: WindowGeometry, groups: number): NodeSpec['attributes'] {
  return {
    kernel_shape: window.kernel,
    strides: window.stride,
    pads: [...window.padding, ...window.padding],
    dilations: window.dilation,
    group: groups,
  };
}

/** Convolution of `x` `[N, C, ...spatial]` with `weight` `[O, C/G, ...kernel]` and, if given, `bias` `[O]`: `[N, O, ...out]`. */
export function emitConv(g: GraphBuilder, x: string, weight: string, bias: string | undefined, window: WindowGeometry, groups: number, output?: string): string {
  return g.node('Conv', bias === undefined ? [x, weight] : [x, weight, bias], windowAttributes(window, groups), output);
}

/**
 * Convolution (the backend's `conv`): `a` `[N, C, ...spatial]`, weight `b`
 * `[O, C/G, ...kernel]` and, `withBias`, bias `c` `[O]`; `y` `[N, O, ...out]`.
 */
export function convGraph(dtype: OrtDType, window: WindowGeometry, groups: number, withBias: boolean): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = window.kernel.length + 2;
  emitConv(g, 'a', 'b', withBias ? 'c' : undefined, window, groups, 'y');
  return g.graph(withBias ? [rank, rank, 1] : [rank, rank], rank);
}

/**
 * What the last window leaves uncovered at the end of each dimension of
 * `spatial` with `outSpatial` window positions (less than the stride):
 * ConvTranspose's `output_padding`, which gives the input's size back.
 */
export function uncoveredTail(spatial: readonly number[], outSpatial: readonly number[], window: WindowGeometry): number[] {
  return spatial.map(
    (size, d) => size + 2 * window.padding[d]! - ((outSpatial[d]! - 1) * window.stride[d]! + window.dilation[d]! * (window.kernel[d]! - 1) + 1),
  );
}

/**
 * The transpose of {@link emitConv} in its input: `mat` `[B, O, ...out]` and
 * the convolution's weight `[O, C/G, ...kernel]` (ConvTranspose's own layout)
 * give `[B, C, ...spatial]` (`outputPadding` from {@link uncoveredTail}).
 */
export function emitConvTranspose(g: GraphBuilder, mat: string, weight: string, window: WindowGeometry, groups: number, outputPadding: readonly number[], output?: string): string {
  return g.node('ConvTranspose', [mat, weight], { ...windowAttributes(window, groups), output_padding: outputPadding }, output);
}

/** {@link emitConvTranspose} as a graph of `a` (mat) and `b` (weight), the backend's `convTranspose`. */
export function convTransposeGraph(dtype: OrtDType, window: WindowGeometry, groups: number, outputPadding: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = window.kernel.length + 2;
  emitConvTranspose(g, 'a', 'b', window, groups, outputPadding, 'y');
  return g.graph([rank, rank], rank);
}

/**
 * The transpose of {@link emitConv} in its weight, summed over the batch, as
 * one more convolution:
 * `dW[v, o, c, k] = Σ_n Σ_l mat[v, n, o, l] x_pad[n, c, l·stride + k·dilation]`
 * is a Conv of x with channels and batch swapped (`[C/G, G·N, ...spatial]`)
 * and `mat` as its kernel (`[G·V·O/G, N, ...out]`), with stride and dilation
 * swapped, `group` G. That convolution may have more positions than the
 * kernel (where the window leaves a tail): they are sliced off. `x` is
 * `[N, C, ...spatial]` (`xShape`), `mat` `[V, N, O, ...out]` (`matShape`);
 * the result `[V, O, C/G, ...kernel]`. Its reshapes name these shapes.
 */
export function emitConvWeightGrad(
  g: GraphBuilder,
  x: string,
  mat: string,
  xShape: readonly number[],
  matShape: readonly number[],
  window: WindowGeometry,
  groups: number,
  output?: string,
): string {
  const [n, c, ...spatial] = xShape as [number, number, ...number[]];
  const [v, , o, ...outSpatial] = matShape as [number, number, number, ...number[]];
  const axes = spatial.map((_, d) => d);
  const [cg, og] = [c / groups, o / groups];
  // [N, G, C/G, ...S] -> [C/G, G, N, ...S] -> [C/G, G·N, ...S]
  const xSplit = g.reshape(x, [n, groups, cg, ...spatial]);
  const input = g.reshape(g.node('Transpose', [xSplit], { perm: [2, 1, 0, ...axes.map((d) => 3 + d)] }), [cg, groups * n, ...spatial]);
  // [V, N, G, O/G, ...out] -> [G, V, O/G, N, ...out] -> [G·V·O/G, N, ...out]
  const matSplit = g.reshape(mat, [v, n, groups, og, ...outSpatial]);
  const kernel = g.reshape(g.node('Transpose', [matSplit], { perm: [2, 0, 3, 1, ...axes.map((d) => 4 + d)] }), [groups * v * og, n, ...outSpatial]);
  const product = g.node('Conv', [input, kernel], {
    kernel_shape: outSpatial,
    strides: window.dilation,
    pads: [...window.padding, ...window.padding],
    dilations: window.stride,
    group: groups,
  });
  // Positions beyond the kernel (a tail the window never reaches) are sliced off.
  const reached = spatial.map((size, d) => Math.floor((size + 2 * window.padding[d]! - window.stride[d]! * (outSpatial[d]! - 1) - 1) / window.dilation[d]!) + 1);
  const whole = reached.every((r, d) => r === window.kernel[d])
    ? product
    : g.node('Slice', [product, g.int64s(axes.map(() => 0)), g.int64s(window.kernel), g.int64s(axes.map((d) => 2 + d))]);
  // [C/G, G, V, O/G, ...k] -> [V, G, O/G, C/G, ...k] -> [V, O, C/G, ...k]
  const split = g.reshape(whole, [cg, groups, v, og, ...window.kernel]);
  const ordered = g.node('Transpose', [split], { perm: [2, 1, 3, 0, ...axes.map((d) => 4 + d)] });
  return g.reshape(ordered, [v, o, cg, ...window.kernel], output);
}

/** {@link emitConvWeightGrad} as a graph of `a` (x) and `b` (mat), the backend's `convWeightGrad`, built for these shapes. */
export function convWeightGradGraph(dtype: OrtDType, xShape: readonly number[], matShape: readonly number[], window: WindowGeometry, groups: number): GraphSpec {
  const g = new GraphBuilder(dtype);
  emitConvWeightGrad(g, 'a', 'b', xShape, matShape, window, groups, 'y');
  return g.graph([xShape.length, matShape.length], matShape.length);
}
