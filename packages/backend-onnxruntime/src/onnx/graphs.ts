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

/** Builds a graph node by node, with named scalar constants of the kernel's dtype. */
class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorSpec[] = [];
  private counter = 0;
  private readonly constants = new Map<number, string>();

  constructor(readonly dtype: OrtDType) {}

  /** Adds a node and returns its (single) output name; `output` names it explicitly. */
  node(op: string, inputs: readonly string[], attributes?: NodeSpec['attributes'], output?: string): string {
    const name = output ?? `t${this.counter++}`;
    this.nodes.push({ op, inputs, outputs: [name], ...(attributes && { attributes }) });
    return name;
  }

  /** A scalar constant of the graph's dtype. */
  constant(value: number): string {
    let name = this.constants.get(value);
    if (name === undefined) {
      name = `c${this.constants.size}`;
      this.constants.set(value, name);
      this.initializers.push({ name, type: this.dtype, dims: [], values: [value] });
    }
    return name;
  }

  /** An int64 constant, 1-d unless `shape` is given. */
  int64s(values: readonly number[], shape: readonly number[] = [values.length]): string {
    const name = `i${this.initializers.length}`;
    this.initializers.push({ name, type: 'int64', dims: shape, values });
    return name;
  }

  /** A boolean converted to the graph's dtype (1 or 0). */
  toDType(input: string, output?: string): string {
    return this.node('Cast', [input], { to: OnnxType[this.dtype] }, output);
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

/** `op` elementwise on a flat `[n]` input. */
export function unaryGraph(op: UnaryOp, dtype: OrtDType): GraphSpec {
  const g = new GraphBuilder(dtype);
  const simple: Partial<Record<UnaryOp, string>> = {
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
  const onnxOp = simple[op];
  if (onnxOp !== undefined) {
    g.node(onnxOp, ['a'], undefined, 'y');
    return g.graph([1], 1);
  }
  switch (op) {
    case 'square':
      g.node('Mul', ['a', 'a'], undefined, 'y');
      break;
    case 'sign': {
      // ONNX Sign(NaN) is NaN; (x > 0) - (x < 0) gives PyTorch's 0.
      const positive = g.toDType(g.node('Greater', ['a', g.constant(0)]));
      const negative = g.toDType(g.node('Less', ['a', g.constant(0)]));
      g.node('Sub', [positive, negative], undefined, 'y');
      break;
    }
    case 'step':
      g.toDType(g.node('Greater', ['a', g.constant(0)]), 'y');
      break;
    case 'expm1': {
      // exp(x) - 1 cancels near 0; there e^x - 1 = 2t / (1 - t) with t = tanh(x / 2) is exact to rounding.
      const t = g.node('Tanh', [g.node('Mul', ['a', g.constant(0.5)])]);
      const small = g.node('Div', [g.node('Add', [t, t]), g.node('Sub', [g.constant(1), t])]);
      const large = g.node('Sub', [g.node('Exp', ['a']), g.constant(1)]);
      const nearZero = g.node('Less', [g.node('Abs', ['a']), g.constant(0.5)]);
      g.node('Where', [nearZero, small, large], undefined, 'y');
      break;
    }
    case 'log1p':
      log1p(g, 'a', 'y');
      break;
    case 'softplus': {
      if (dtype === 'float32') {
        g.node('Softplus', ['a'], undefined, 'y');
        break;
      }
      // ORT's float64 Softplus overflows for large x; max(x, 0) + log1p(exp(-|x|)) does not.
      const tail = log1p(g, g.node('Exp', [g.node('Neg', [g.node('Abs', ['a'])])]));
      g.node('Add', [g.node('Relu', ['a']), tail], undefined, 'y');
      break;
    }
    default:
      throw new Error(`no ONNX graph for unary op '${op}'`);
  }
  return g.graph([1], 1);
}

/**
 * log(1 + x), accurate near 0: log(1 + x) alone loses x's low bits;
 * log(u) * x / (u - 1) with u = 1 + x corrects them (Goldberg).
 */
function log1p(g: GraphBuilder, x: string, output?: string): string {
  const u = g.node('Add', [x, g.constant(1)]);
  const d = g.node('Sub', [u, g.constant(1)]);
  const corrected = g.node('Div', [g.node('Mul', [g.node('Log', [u]), x]), d]);
  const exact = g.node('Equal', [d, g.constant(0)]);
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

/** `op(a, b)` with NumPy broadcasting; `b` may be rank 0 (a scalar). */
export function binaryGraph(op: BinaryOp, dtype: OrtDType, rankA: number, rankB: number): GraphSpec {
  const g = new GraphBuilder(dtype);
  const { op: onnxOp, compare } = binaryOps[op];
  if (compare) g.toDType(g.node(onnxOp, ['a', 'b']), 'y');
  else g.node(onnxOp, ['a', 'b'], undefined, 'y');
  return g.graph([rankA, rankB], Math.max(rankA, rankB));
}

/** Reduction of a rank-`rank` input over `axes`, dropping them. max/min propagate NaN (ONNX's skip it). */
export function reduceGraph(op: ReduceOp, dtype: OrtDType, rank: number, axes: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  const onnxOp = op === 'sum' ? 'ReduceSum' : op === 'max' ? 'ReduceMax' : 'ReduceMin';
  const axesName = g.int64s(axes);
  if (op === 'sum' || dtype === 'int32') {
    g.node(onnxOp, ['a', axesName], { keepdims: 0 }, 'y');
  } else {
    const reduced = g.node(onnxOp, ['a', axesName], { keepdims: 0 });
    const anyNaN = g.node('ReduceMax', [g.toDType(g.node('IsNaN', ['a'])), axesName], { keepdims: 0 });
    g.node('Where', [g.node('Greater', [anyNaN, g.constant(0)]), g.constant(Number.NaN), reduced], undefined, 'y');
  }
  return g.graph([rank], rank - axes.length);
}

/**
 * One matrix product `[m, k] @ [k, n]` (operands given transposed when
 * `transA` / `transB`): ONNX Gemm, which hands the transposes to the GEMM
 * itself (MLAS) instead of copying.
 */
export function gemmGraph(dtype: OrtDType, transA: boolean, transB: boolean): GraphSpec {
  const g = new GraphBuilder(dtype);
  g.node('Gemm', ['a', 'b'], { transA: transA ? 1 : 0, transB: transB ? 1 : 0 }, 'y');
  return g.graph([2, 2], 2);
}

/**
 * Batched matrix product of `[batchA, m, k]` and `[batchB, k, n]` (operands
 * given transposed when `transA` / `transB`), batch broadcast. With
 * `fused`, com.microsoft's FusedMatMul takes the transposes itself (it has
 * float32 kernels only); otherwise Transpose nodes feed MatMul.
 */
export function batchedMatmulGraph(dtype: OrtDType, transA: boolean, transB: boolean, fused: boolean): GraphSpec {
  const g = new GraphBuilder(dtype);
  if (fused) {
    g.nodes.push({
      op: 'FusedMatMul',
      domain: 'com.microsoft',
      inputs: ['a', 'b'],
      outputs: ['y'],
      attributes: { transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha: { float: 1 } },
    });
  } else {
    const a = transA ? g.node('Transpose', ['a'], { perm: [0, 2, 1] }) : 'a';
    const b = transB ? g.node('Transpose', ['b'], { perm: [0, 2, 1] }) : 'b';
    g.node('MatMul', [a, b], undefined, 'y');
  }
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
 * col2im (the backend's `fold`) of `[N, C * K, L]` into `[N, C, ...spatial]`:
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
export function foldGraph(dtype: OrtDType, spatial: readonly number[], window: WindowGeometry): GraphSpec {
  const g = new GraphBuilder(dtype);
  const lift = spatial.length === 1 ? [1] : [];
  const image = g.int64s([...lift, ...spatial]);
  const block = g.int64s([...lift, ...window.kernel]);
  const padding = [...lift.map(() => 0), ...window.padding];
  const attributes = { strides: [...lift, ...window.stride], pads: [...padding, ...padding], dilations: [...lift, ...window.dilation] };
  if (lift.length === 0) g.node('Col2Im', ['a', image, block], attributes, 'y');
  else g.node('Squeeze', [g.node('Col2Im', ['a', image, block], attributes), g.int64s([2])], undefined, 'y');
  return g.graph([3], 2 + spatial.length);
}

/** Whether {@link foldGraph} computes this fold correctly on ORT 1.30 (see there): float32, rank 1-3, 3-d undilated. */
export function foldOnOrt(dtype: OrtDType, window: WindowGeometry): boolean {
  const rank = window.kernel.length;
  return dtype === 'float32' && rank >= 1 && rank <= 3 && (rank !== 3 || window.dilation.every((d) => d === 1));
}

/**
 * Index of the largest element along axis 1 of `[outer, length]` or
 * `[outer, length, inner]`, as int32 (ArgMax gives int64; the graph casts).
 * ArgMax keeps the first maximum (`select_last_index` 0) but does not treat
 * NaN as the largest value, as the contract does. For floats a second ArgMax
 * finds each lane's first NaN (of IsNaN as uint8; 0 in a lane without one),
 * and lanes whose element there is NaN take that index.
 */
export function argmaxGraph(dtype: OrtDType, rank: 2 | 3): GraphSpec {
  const g = new GraphBuilder(dtype);
  const first = g.node('ArgMax', ['a'], { axis: 1, keepdims: 1 });
  let index = first;
  if (dtype !== 'int32') {
    const firstNaN = g.node('ArgMax', [g.node('Cast', [g.node('IsNaN', ['a'])], { to: OnnxType.uint8 })], { axis: 1, keepdims: 1 });
    const hasNaN = g.node('IsNaN', [g.node('GatherElements', ['a', firstNaN], { axis: 1 })]);
    index = g.node('Where', [hasNaN, firstNaN, first]);
  }
  g.node('Squeeze', [g.node('Cast', [index], { to: OnnxType.int32 }), g.int64s([1])], undefined, 'y');
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
 * Max pooling of `[N, C, ...spatial]` over windows that tile it (the
 * backend's `maxPool`, see {@link maxPoolOnOrt}): the input (its tail beyond
 * the last whole window sliced off) reshaped to `[N, C, O1, K1, ..., OD, KD]`
 * and transposed to `[N, C, L, K]`, where ReduceMax and ArgMax (the first
 * maximum) run along the contiguous last axis. Outputs `y` (the maxima),
 * `k` (`[N, C, L]` int32) and `hasNaN`, 1 when the sum of the input is NaN: NaN
 * somewhere (ArgMax does not rank NaN first, as the contract does; the
 * caller falls back), or both infinities (a harmless fallback). -∞ needs no
 * care here: a window of -∞ has its first position, as in the contract.
 */
export function maxPoolGraph(dtype: OrtDType, spatial: readonly number[], window: WindowGeometry, outSpatial: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = spatial.length;
  const covered = outSpatial.map((o, d) => o * window.kernel[d]!);
  const axes = spatial.map((_, d) => d + 2);
  const whole = covered.every((size, d) => size === spatial[d])
    ? 'a'
    : g.node('Slice', ['a', g.int64s(axes.map(() => 0)), g.int64s(covered), g.int64s(axes)]);
  const split = g.node('Reshape', [whole, g.int64s([0, 0, ...outSpatial.flatMap((o, d) => [o, window.kernel[d]!])])]);
  const perm = [0, 1, ...axes.map((_, d) => 2 + 2 * d), ...axes.map((_, d) => 3 + 2 * d)];
  const windows = g.node('Reshape', [g.node('Transpose', [split], { perm }), g.int64s([0, 0, -1, sizeOf(window.kernel)])]);
  const last = g.int64s([-1]);
  g.node('Reshape', [g.node('ReduceMax', [windows, last], { keepdims: 0 }), g.int64s([0, 0, ...outSpatial])], undefined, 'y');
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
 * One-hot encoding of flat int32 indices `[M]` into `[M, depth]` of `dtype`:
 * each index compared with the constant `0 .. depth - 1` (core has checked
 * the range).
 */
export function oneHotGraph(dtype: OrtDType, depth: number): GraphSpec {
  const g = new GraphBuilder(dtype);
  const classes = `range${depth}`;
  g.initializers.push({ name: classes, type: 'int32', dims: [1, depth], values: Array.from({ length: depth }, (_, i) => i) });
  g.toDType(g.node('Equal', [g.node('Unsqueeze', ['a', g.int64s([1])]), classes]), 'y');
  return {
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: 'a', type: 'int32', dims: ['m'] }],
    outputs: [{ name: 'y', type: dtype, dims: ['m', 'depth'] }],
  };
}

/**
 * The transpose of {@link maxPoolGraph} (the backend's `maxPoolTranspose`),
 * for windows that tile the input: `a` `[V, N, C, L]` times the one-hot of
 * the positions `b` `[N, C, L]` (int32), `[V, N, C, L, K]`, transposed back
 * from window order to the input grid and zero-padded over the tail no window
 * covers: `y` `[V·N, C, ...spatial]` (the layout of `[V, N, C, ...spatial]`).
 */
export function maxPoolTransposeGraph(dtype: OrtDType, channels: number, spatial: readonly number[], window: WindowGeometry, outSpatial: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = spatial.length;
  const k = sizeOf(window.kernel);
  const classes = `range${k}`;
  g.initializers.push({ name: classes, type: 'int32', dims: [k], values: Array.from({ length: k }, (_, i) => i) });
  const last = g.int64s([-1]);
  const selected = g.toDType(g.node('Equal', [g.node('Unsqueeze', ['b', last]), classes]));
  const routed = g.node('Mul', [g.node('Unsqueeze', ['a', last]), selected]);
  const byWindow = g.node('Reshape', [routed, g.int64s([-1, channels, ...outSpatial, ...window.kernel])]);
  const perm = [0, 1, ...spatial.flatMap((_, d) => [2 + d, 2 + rank + d])];
  const covered = outSpatial.map((o, d) => o * window.kernel[d]!);
  const grid = g.node('Reshape', [g.node('Transpose', [byWindow], { perm }), g.int64s([-1, channels, ...covered])]);
  const tails = spatial.map((size, d) => size - covered[d]!);
  if (tails.every((t) => t === 0)) g.node('Identity', [grid], undefined, 'y');
  else g.node('Pad', [grid, g.int64s([0, 0, ...tails.map(() => 0), 0, 0, ...tails])], undefined, 'y');
  return {
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'a', type: dtype, dims: dims('a', 4) },
      { name: 'b', type: 'int32', dims: dims('b', 3) },
    ],
    outputs: [{ name: 'y', type: dtype, dims: dims('y', rank + 2) }],
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

/**
 * Convolution (the backend's `conv`): `a` `[N, C, ...spatial]`, weight `b`
 * `[O, C/G, ...kernel]` and, `withBias`, bias `c` `[O]`; `y` `[N, O, ...out]`.
 */
export function convGraph(dtype: OrtDType, window: WindowGeometry, groups: number, withBias: boolean): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = window.kernel.length + 2;
  g.node('Conv', withBias ? ['a', 'b', 'c'] : ['a', 'b'], windowAttributes(window, groups), 'y');
  return g.graph(withBias ? [rank, rank, 1] : [rank, rank], rank);
}

/**
 * The transpose of {@link convGraph} in its input (the backend's
 * `convTranspose`): `a` `[B, O, ...out]` and the convolution's weight `b`
 * `[O, C/G, ...kernel]` (ConvTranspose's own layout) give `y` `[B, C, ...spatial]`.
 * `outputPadding` is what the window leaves uncovered at the end of each
 * dimension (less than the stride), which ConvTranspose adds as zeros.
 */
export function convTransposeGraph(dtype: OrtDType, window: WindowGeometry, groups: number, outputPadding: readonly number[]): GraphSpec {
  const g = new GraphBuilder(dtype);
  const rank = window.kernel.length + 2;
  g.node('ConvTranspose', ['a', 'b'], { ...windowAttributes(window, groups), output_padding: outputPadding }, 'y');
  return g.graph([rank, rank], rank);
}

/**
 * The transpose of {@link convGraph} in its weight, summed over the batch
 * (the backend's `convWeightGrad`), as one more convolution:
 * `dW[v, o, c, k] = Σ_n Σ_l mat[v, n, o, l] x_pad[n, c, l·stride + k·dilation]`
 * is a Conv of x with channels and batch swapped (`[C/G, G·N, ...spatial]`)
 * and `mat` as its kernel (`[G·V·O/G, N, ...out]`), with stride and dilation
 * swapped, `group` G. That convolution may have more positions than the
 * kernel (where the window leaves a tail): they are sliced off. `a` is x
 * `[N, C, ...spatial]`, `b` is mat `[V, N, O, ...out]`, `y` `[V, O, C/G, ...kernel]`;
 * built for these shapes (its reshapes name them).
 */
export function convWeightGradGraph(
  dtype: OrtDType,
  xShape: readonly number[],
  matShape: readonly number[],
  window: WindowGeometry,
  groups: number,
): GraphSpec {
  const g = new GraphBuilder(dtype);
  const [n, c, ...spatial] = xShape as [number, number, ...number[]];
  const [v, , o, ...outSpatial] = matShape as [number, number, number, ...number[]];
  const rank = spatial.length;
  const axes = spatial.map((_, d) => d);
  const [cg, og] = [c / groups, o / groups];
  // [N, G, C/G, ...S] -> [C/G, G, N, ...S] -> [C/G, G·N, ...S]
  const xSplit = g.node('Reshape', ['a', g.int64s([n, groups, cg, ...spatial])]);
  const input = g.node('Reshape', [g.node('Transpose', [xSplit], { perm: [2, 1, 0, ...axes.map((d) => 3 + d)] }), g.int64s([cg, groups * n, ...spatial])]);
  // [V, N, G, O/G, ...out] -> [G, V, O/G, N, ...out] -> [G·V·O/G, N, ...out]
  const matSplit = g.node('Reshape', ['b', g.int64s([v, n, groups, og, ...outSpatial])]);
  const kernel = g.node('Reshape', [g.node('Transpose', [matSplit], { perm: [2, 0, 3, 1, ...axes.map((d) => 4 + d)] }), g.int64s([groups * v * og, n, ...outSpatial])]);
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
  const split = g.node('Reshape', [whole, g.int64s([cg, groups, v, og, ...window.kernel])]);
  const ordered = g.node('Transpose', [split], { perm: [2, 1, 3, 0, ...axes.map((d) => 4 + d)] });
  g.node('Reshape', [ordered, g.int64s([v, o, cg, ...window.kernel])], undefined, 'y');
  return g.graph([rank + 2, rank + 3], rank + 3);
}
