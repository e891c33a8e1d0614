/**
 * A recorded step as one ONNX graph: externals and values made by
 * `fromData` are its inputs, the values alive when the step ended its
 * outputs, and every kernel call becomes the nodes the kernel's own graph
 * has (`onnx/graphs.ts`), or, for kernels that run in TypeScript in eager
 * mode, ONNX operators that compute the same (layout copies, `unfold`,
 * float64 `fold`). Shapes are the recorded ones, so ORT plans the whole step.
 */
import { matmulDims, sizeOf, windowOutputSize, type BinaryOp, type DType, type Shape, type WindowGeometry } from '@backpack-ts/core';
import {
  GraphBuilder,
  emitArgmax,
  emitBatchedMatmul,
  emitBinary,
  emitConv,
  emitConvTranspose,
  emitConvWeightGrad,
  emitFold,
  emitGemm,
  emitMaxPoolTranspose,
  emitOneHot,
  emitPoolWindows,
  emitReduce,
  emitUnary,
  foldOnOrt,
  matmulKind,
  uncoveredTail,
} from '../onnx/graphs.js';
import { OnnxType, type GraphSpec, type ValueSpec } from '../onnx/proto.js';
import { coalescePermute, isIdentity } from '../shapes.js';
import type { Call, Ref, Trace } from './trace.js';

/** The graph of a trace, and how its inputs and outputs map to the step's handles. */
export interface StepGraph {
  readonly graph: GraphSpec;
  /** Graph inputs in order: an external slot or a fed value. */
  readonly inputs: readonly Ref[];
  /** Graph outputs in order: the value each holds. */
  readonly outputs: readonly number[];
  /**
   * Live values that are reshapes of another live value, `[value, source]`:
   * they share its storage, as in eager mode, instead of being outputs.
   */
  readonly aliases: readonly (readonly [number, number])[];
}

/** Thrown while building for a call the graph does not cover; its message is the reason the step runs eagerly. */
class Unsupported extends Error {}

const valueName = (id: number) => `v${id}`;
const externalName = (slot: number) => `x${slot}`;

/**
 * The flat positions, in the input padded by `window.padding`, that `unfold`
 * reads: kernel offset k (row-major) then window position l, `[K · L]`.
 */
function windowPositions(spatial: readonly number[], window: WindowGeometry): number[] {
  const padded = spatial.map((size, d) => size + 2 * window.padding[d]!);
  const out = windowOutputSize(spatial, window);
  const rank = spatial.length;
  const positions: number[] = [];
  const offset = new Array<number>(rank).fill(0);
  for (let k = 0; k < sizeOf(window.kernel); k++) {
    const at = new Array<number>(rank).fill(0);
    for (let l = 0; l < sizeOf(out); l++) {
      let flat = 0;
      for (let d = 0; d < rank; d++) flat = flat * padded[d]! + at[d]! * window.stride[d]! + offset[d]! * window.dilation[d]!;
      positions.push(flat);
      for (let d = rank - 1; d >= 0 && ++at[d]! === out[d]; d--) at[d] = 0;
    }
    for (let d = rank - 1; d >= 0 && ++offset[d]! === window.kernel[d]; d--) offset[d] = 0;
  }
  return positions;
}

/** Builds the graph of `trace`, or says which call it cannot express. */
export function stepGraph(trace: Trace): StepGraph | { readonly reason: string } {
  const g = new GraphBuilder('float32');
  const inputs = new Map<string, Ref>();
  const reshaped = new Map<string, string>();

  /** The name of an operand as its value has it (an input of the graph, if it is external or fed). */
  const source = (ref: Ref): { name: string; known: Shape } => {
    if (ref.kind === 'external') {
      const name = externalName(ref.slot);
      inputs.set(name, ref);
      return { name, known: trace.externals.get(ref.slot)!.shape };
    }
    const name = valueName(ref.id);
    const value = trace.values.get(ref.id)!;
    if (value.fed) inputs.set(name, ref);
    return { name, known: value.shape };
  };

  /** The name of an operand with the shape the call declares (a Reshape when it differs from the value's). */
  const operand = (ref: Ref, shape: Shape): string => {
    const { name, known } = source(ref);
    if (known.length === shape.length && known.every((size, d) => size === shape[d])) return name;
    const key = `${name}:${shape.join(',')}`;
    let view = reshaped.get(key);
    if (view === undefined) {
      view = g.reshape(name, shape);
      reshaped.set(key, view);
    }
    return view;
  };

  try {
    for (const call of trace.calls) emit(g, call, operand, (ref) => source(ref).name);
  } catch (error) {
    if (error instanceof Unsupported) return { reason: error.message };
    throw error;
  }

  const live = new Set(trace.live);
  const reshapedFrom = new Map<number, Ref>();
  for (const call of trace.calls) if (call.kernel === 'reshape') reshapedFrom.set(call.outputs[0]!, call.operands[0]!);
  /** The nearest live value up `id`'s chain of reshapes, if any. */
  const aliasOf = (id: number): number | undefined => {
    for (let source = reshapedFrom.get(id); source?.kind === 'value'; source = reshapedFrom.get(source.id)) {
      if (live.has(source.id) && !trace.values.get(source.id)!.fed) return source.id;
    }
    return undefined;
  };
  const aliases: [number, number][] = [];
  const outputs: number[] = [];
  for (const id of trace.live) {
    if (trace.values.get(id)!.fed) continue;
    const source = aliasOf(id);
    if (source === undefined) outputs.push(id);
    else aliases.push([id, source]);
  }
  const inputSpecs: ValueSpec[] = [...inputs].map(([name, ref]) => {
    const info = ref.kind === 'external' ? trace.externals.get(ref.slot)! : trace.values.get(ref.id)!;
    return { name, type: info.dtype, dims: info.shape };
  });
  return {
    graph: {
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: inputSpecs,
      outputs: outputs.map((id) => {
        const info = trace.values.get(id)!;
        return { name: valueName(id), type: info.dtype, dims: info.shape };
      }),
      graphName: 'compiled-step',
    },
    inputs: [...inputs.values()],
    outputs,
    aliases,
  };
}

/** Adds the nodes of one call. */
function emit(g: GraphBuilder, call: Call, operand: (ref: Ref, shape: Shape) => string, source: (ref: Ref) => string): void {
  const a = call.args;
  const out = call.outputs.map(valueName);
  const input = (i: number, shape: unknown) => operand(call.operands[i]!, shape as Shape);
  const dtype = (index: number) => a[index] as DType;
  switch (call.kernel) {
    case 'fromData':
    case 'read':
    case 'dispose':
      return;
    case 'full': {
      const [shape, fill, type] = [a[0] as Shape, a[1] as number, dtype(2)];
      g.node('ConstantOfShape', [g.int64s(shape)], { value: { tensor: { name: 'value', type, dims: [1], values: [fill] } } }, out[0]);
      return;
    }
    case 'reshape':
      g.reshape(source(call.operands[0]!), a[2] as Shape, out[0]);
      return;
    case 'permute': {
      // As in eager mode: size-1 dimensions dropped and runs merged, so that a permutation that moves nothing copies nothing.
      const [shape, perm] = [a[1] as Shape, a[2] as number[]];
      const simple = coalescePermute(shape, perm);
      const outShape = perm.map((d) => shape[d]!);
      if (isIdentity(simple.perm)) g.reshape(source(call.operands[0]!), outShape, out[0]);
      else g.reshape(g.node('Transpose', [input(0, simple.shape)], { perm: simple.perm }), outShape, out[0]);
      return;
    }
    case 'slice': {
      const [begin, size] = [a[2] as number[], a[3] as number[]];
      if (begin.length === 0) g.node('Identity', [input(0, a[1])], undefined, out[0]);
      else g.node('Slice', [input(0, a[1]), g.int64s(begin), g.int64s(begin.map((b, d) => b + size[d]!)), g.int64s(begin.map((_, d) => d))], undefined, out[0]);
      return;
    }
    case 'concat': {
      const shapes = a[1] as Shape[];
      g.node('Concat', shapes.map((shape, i) => input(i, shape)), { axis: a[2] as number }, out[0]);
      return;
    }
    case 'pad': {
      const [before, after, fill, type] = [a[2] as number[], a[3] as number[], a[4] as number, dtype(5)];
      g.node('Pad', [input(0, a[1]), g.int64s([...before, ...after]), g.constant(fill, type)], undefined, out[0]);
      return;
    }
    case 'cast': {
      const [from, to] = [dtype(2), dtype(3)];
      g.node(from === to ? 'Identity' : 'Cast', [input(0, a[1])], from === to ? undefined : { to: OnnxType[to] }, out[0]);
      return;
    }
    case 'unary': {
      const type = dtype(3);
      if (type === 'int32') throw new Unsupported(`the step applies '${String(a[0])}' to int32 values, which the compiled graph does not cover`);
      emitUnary(g, a[0] as never, type, input(0, a[2]), out[0]);
      return;
    }
    case 'binary': {
      const [op, type] = [a[0] as BinaryOp, dtype(6)];
      integerArithmetic(op, type);
      emitBinary(g, op, type, input(0, a[2]), input(1, a[4]), out[0]);
      return;
    }
    case 'binaryScalar': {
      const [op, scalar, type] = [a[0] as BinaryOp, a[3] as number, dtype(4)];
      integerArithmetic(op, type);
      if (type === 'int32' && !Number.isInteger(scalar)) throw new Unsupported(`the step applies '${op}' with ${scalar} to int32 values, which the compiled graph does not cover`);
      emitBinary(g, op, type, input(0, a[2]), g.constant(scalar, type), out[0]);
      return;
    }
    case 'reduce': {
      const axes = a[3] as number[];
      // ONNX reduces every axis when given none; the contract's empty reduction is a copy.
      if (axes.length === 0) g.node('Identity', [input(0, a[2])], undefined, out[0]);
      else emitReduce(g, a[0] as never, dtype(4), input(0, a[2]), axes, out[0]);
      return;
    }
    case 'matmul': {
      const [aShape, bShape, transA, transB, type] = [a[1] as number[], a[3] as number[], a[4] as boolean, a[5] as boolean, dtype(6)];
      if (type === 'int32') throw new Unsupported('the step multiplies int32 matrices, which the compiled graph does not cover');
      const { batchA, batchB, batch, m, n } = matmulDims(aShape, bShape, transA, transB);
      // The kernels eager mode would run (see matmulKind).
      const kind = matmulKind(aShape, bShape, transA, transB, type);
      if (kind === 'outer') emitBinary(g, 'mul', type, input(0, [batchA, m, 1]), input(1, [batchB, 1, n]), out[0]);
      else if (kind === 'gemm') {
        const product = emitGemm(g, input(0, [aShape[0]! * aShape[1]!, aShape[2]!]), input(1, bShape.slice(1)), transA, transB);
        g.reshape(product, [batch, m, n], out[0]);
      } else emitBatchedMatmul(g, input(0, aShape), input(1, bShape), transA, transB, kind === 'fused', out[0]);
      return;
    }
    case 'unfold':
      emitUnfold(g, input(0, a[1]), a[1] as Shape, a[2] as WindowGeometry, out[0]!);
      return;
    case 'fold': {
      const [colsShape, spatial, window, type] = [a[1] as Shape, a[2] as number[], a[3] as WindowGeometry, dtype(4)];
      if (foldOnOrt(type, window)) emitFold(g, input(0, colsShape), spatial, window, out[0]);
      else emitScatterFold(g, input(0, colsShape), colsShape, spatial, window, type, out[0]!);
      return;
    }
    case 'argmax':
      emitArgmax(g, dtype(3), input(0, a[1]), a[2] as number, out[0]);
      return;
    case 'maxPool': {
      if (out.length === 0) return;
      const [shape, window, type] = [a[1] as Shape, a[2] as WindowGeometry, dtype(3)];
      const outSpatial = windowOutputSize(shape.slice(2), window);
      // NaN-aware where the eager kernel declines on NaN: its max propagates NaN, its argmax picks the first NaN.
      const windows = emitPoolWindows(g, input(0, shape), shape.slice(2), window, outSpatial);
      g.reshape(emitReduce(g, 'max', type, windows, [3]), [0, 0, ...outSpatial], out[0]);
      emitArgmax(g, type, windows, 3, out[1]);
      return;
    }
    case 'maxPoolTranspose': {
      if (out.length === 0) return;
      const [matShape, spatial, window, type] = [a[1] as Shape, a[3] as number[], a[4] as WindowGeometry, dtype(5)];
      const outSpatial = windowOutputSize(spatial, window);
      const routed = emitMaxPoolTranspose(g, type, input(0, matShape), input(1, matShape.slice(1)), matShape[2]!, spatial, window, outSpatial);
      g.reshape(routed, [matShape[0]!, matShape[1]!, matShape[2]!, ...spatial], out[0]);
      return;
    }
    case 'conv': {
      if (out.length === 0) return;
      const weightShape = a[3] as Shape;
      const bias = a[4] === undefined ? undefined : input(2, [weightShape[0]]);
      emitConv(g, input(0, a[1]), input(1, weightShape), bias, a[5] as WindowGeometry, a[6] as number, out[0]);
      return;
    }
    case 'convTranspose': {
      if (out.length === 0) return;
      const [matShape, spatial, window] = [a[1] as Shape, a[4] as number[], a[5] as WindowGeometry];
      emitConvTranspose(g, input(0, matShape), input(1, a[3]), window, a[6] as number, uncoveredTail(spatial, matShape.slice(2), window), out[0]);
      return;
    }
    case 'convWeightGrad':
      if (out.length === 0) return;
      emitConvWeightGrad(g, input(0, a[1]), input(1, a[3]), a[1] as Shape, a[3] as Shape, a[4] as WindowGeometry, a[5] as number, out[0]);
      return;
    case 'softmax':
    case 'logSoftmax':
      g.node(call.kernel === 'softmax' ? 'Softmax' : 'LogSoftmax', [input(0, a[1])], { axis: a[2] as number }, out[0]);
      return;
    case 'oneHot':
      emitOneHot(g, dtype(3), input(0, a[1]), a[2] as number, out[0]);
      return;
    default:
      throw new Unsupported(`the step calls the kernel '${call.kernel}', which the compiled graph does not cover`);
  }
}

/** int32 division and powers follow JavaScript in the contract; ONNX's differ. */
function integerArithmetic(op: BinaryOp, dtype: DType): void {
  if (dtype === 'int32' && (op === 'div' || op === 'pow')) {
    throw new Unsupported(`the step applies '${op}' to int32 values, which the compiled graph does not cover (JavaScript's semantics)`);
  }
}

/**
 * `unfold` as an exact copy: the input zero-padded, flattened per channel,
 * and gathered at {@link windowPositions} (`[N, C, K·L]`, the layout of
 * `[N, C·K, L]`). A one-hot convolution would multiply max pooling's
 * `-Infinity` padding by zeros.
 */
function emitUnfold(g: GraphBuilder, x: string, shape: Shape, window: WindowGeometry, output: string): void {
  const [n, c, ...spatial] = shape as [number, number, ...number[]];
  const padded = window.padding.every((p) => p === 0) ? x : g.node('Pad', [x, g.int64s([0, 0, ...window.padding, 0, 0, ...window.padding])]);
  const flat = g.reshape(padded, [n, c, -1]);
  const positions = windowPositions(spatial, window);
  const gathered = g.node('Gather', [flat, g.int64s(positions)], { axis: 2 });
  g.reshape(gathered, [n, c * sizeOf(window.kernel), positions.length / sizeOf(window.kernel)], output);
}

/**
 * `fold` where Col2Im is missing (float64) or wrong (3-d dilated): the
 * columns, window entry by window entry, added (ScatterND, reduction `add`)
 * into the zero-padded grid at {@link windowPositions}, padding sliced off.
 */
function emitScatterFold(g: GraphBuilder, cols: string, colsShape: Shape, spatial: readonly number[], window: WindowGeometry, dtype: DType, output: string): void {
  const [n, rows] = [colsShape[0]!, colsShape[1]!];
  const c = rows / sizeOf(window.kernel);
  const positions = windowPositions(spatial, window);
  const padded = spatial.map((size, d) => size + 2 * window.padding[d]!);
  // [N, C·K, L] -> [K·L, N, C]: one row of updates per window entry.
  const updates = g.node('Transpose', [g.reshape(cols, [n, c, positions.length])], { perm: [2, 0, 1] });
  const zeros = g.node('ConstantOfShape', [g.int64s([sizeOf(padded), n, c])], { value: { tensor: { name: 'value', type: dtype, dims: [1], values: [0] } } });
  const summed = g.node('ScatterND', [zeros, g.int64s(positions, [positions.length, 1]), updates], { reduction: 'add' });
  const grid = g.reshape(g.node('Transpose', [summed], { perm: [1, 2, 0] }), [n, c, ...padded]);
  const axes = spatial.map((_, d) => d + 2);
  if (window.padding.every((p) => p === 0)) g.node('Identity', [grid], undefined, output);
  else g.node('Slice', [grid, g.int64s(window.padding), g.int64s(window.padding.map((p, d) => p + spatial[d]!)), g.int64s(axes)], undefined, output);
}
