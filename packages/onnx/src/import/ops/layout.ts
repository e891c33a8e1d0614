/**
 * Transpose, and Slice and Gather of data: BackPACK's `Permute` and
 * `Slicing` modules (on constants they are folded: Transpose here, Slice and
 * Gather in shape.ts and gather.ts).
 */
import { Permute, Slicing, formatShape, type SliceEntry } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, normalizeAxis } from '../attributes.js';
import { transposeConstant } from '../constant-folding.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import type { DataValue } from '../values.js';
import { importTimeMajorTranspose } from './time-major.js';

/**
 * Transpose: of data a Permute (the batch axis stays first), of a constant
 * folded (a transposed weight before MatMul); into and out of a recurrent
 * layer's time-major input and output, see time-major.ts.
 */
export function importTranspose(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  const rank = value?.kind === 'const' ? value.shape.length : ctx.data(node, 0).tensor.rank;
  const perm = (new Attributes(node).ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i)).map((p) => normalizeAxis(p, rank, node));
  if (perm.length !== rank || new Set(perm).size !== rank) {
    throw new OnnxImportError(`${describeNode(node)}: perm [${perm.join(', ')}] is not a permutation of ${rank} dimensions`);
  }
  if (value?.kind === 'const') {
    transposeConstant(ctx, node, value, perm);
    return;
  }
  if (importTimeMajorTranspose(ctx, node, perm)) return;
  const x = ctx.data(node, 0);
  if (perm[0] !== 0) throw new OnnxImportError(`${describeNode(node)}: perm [${perm.join(', ')}] moves the batch axis; only permutations that keep it first are supported`);
  if (perm.every((p, i) => p === i)) {
    ctx.alias(node.output[0]!, x);
    return;
  }
  ctx.emit([node], new Permute(perm), [x], [], node.output[0]!);
}

/** The constant integer list input `i` of a Slice (opset >= 10) or attribute `name` (before). */
function sliceList(ctx: ImportContext, node: NodeProto, i: number, name: string): number[] | undefined {
  const values = ctx.opset >= 10 ? (node.input[i] ? [...ctx.constant(node, i, name).values] : undefined) : new Attributes(node).ints(name);
  if (values !== undefined && values.some((v) => !Number.isInteger(v))) throw new OnnxImportError(`${describeNode(node)}: ${name} [${values.join(', ')}] must hold integers`);
  return values;
}

/** The largest int64, "to the end" in exported slices: beyond any dimension, so it is no stop at all. */
const TO_THE_END = 2 ** 53;

/** Slice of data: a Slicing with positive steps that leaves the batch axis whole. */
export function importDataSlice(ctx: ImportContext, node: NodeProto, x: DataValue): void {
  const rank = x.tensor.rank;
  const starts = sliceList(ctx, node, 1, 'starts');
  const ends = sliceList(ctx, node, 2, 'ends');
  if (starts === undefined || ends === undefined) throw new OnnxImportError(`${describeNode(node)}: starts and ends are required`);
  const axes = (sliceList(ctx, node, 3, 'axes') ?? starts.map((_, i) => i)).map((a) => normalizeAxis(a, rank, node));
  const steps = sliceList(ctx, node, 4, 'steps') ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw new OnnxImportError(`${describeNode(node)}: starts, ends, axes and steps must have one entry per sliced axis`);
  }
  const info: SliceEntry[] = x.tensor.shape.map(() => ({}));
  axes.forEach((axis, i) => {
    if (axis === 0) throw new OnnxImportError(`${describeNode(node)}: slicing the batch axis is not supported`);
    if (steps[i]! < 1) throw new OnnxImportError(`${describeNode(node)}: step ${steps[i]} on axis ${axis}; only positive steps are supported on data (as PyTorch's basic indexing)`);
    info[axis] = { start: starts[i]!, stop: Math.abs(ends[i]!) >= TO_THE_END ? (ends[i]! > 0 ? null : 0) : ends[i]!, step: steps[i]! };
  });
  emitSlicing(ctx, node, x, info);
}

/** Gather of data with a constant integer index: a Slicing that picks it (a scalar index drops the axis). */
export function importDataGather(ctx: ImportContext, node: NodeProto, x: DataValue): void {
  const indices = ctx.constant(node, 1, 'the indices');
  const rank = x.tensor.rank;
  const axis = normalizeAxis(new Attributes(node).int('axis', 0), rank, node);
  if (indices.values.length !== 1 || indices.shape.length > 1 || indices.batch !== undefined) {
    throw new OnnxImportError(`${describeNode(node)}: Gather of data is supported with one constant index (PyTorch's integer indexing), got indices of shape ${formatShape(indices.shape)}`);
  }
  if (axis === 0) throw new OnnxImportError(`${describeNode(node)}: gathering along the batch axis is not supported`);
  const index = indices.values[0]!;
  const dim = x.tensor.shape[axis]!;
  if (!Number.isInteger(index) || index < -dim || index >= dim) throw new OnnxImportError(`${describeNode(node)}: index ${index} is out of range for axis ${axis} of size ${dim}`);
  const info: SliceEntry[] = x.tensor.shape.map(() => ({}));
  // A scalar index drops the axis; a one-element list keeps it.
  const from = index < 0 ? index + dim : index;
  info[axis] = indices.shape.length === 0 ? index : { start: from, stop: from + 1 };
  emitSlicing(ctx, node, x, info);
}

/** A Slicing step with `info` (entries beyond the last non-trivial one left out). */
function emitSlicing(ctx: ImportContext, node: NodeProto, x: DataValue, info: SliceEntry[]): void {
  let last = info.length - 1;
  while (last > 0 && typeof info[last] !== 'number' && Object.keys(info[last] as object).length === 0) last--;
  ctx.emit([node], new Slicing(info.slice(0, Math.max(last + 1, 1))), [x], [], node.output[0]!);
}
