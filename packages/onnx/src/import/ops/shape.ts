/**
 * Constants and shape computations, evaluated at import: Constant,
 * ConstantOfShape, Shape (the batch size kept symbolic through a mask),
 * Concat and Slice (of data: a Slicing, see layout.ts).
 */
import { formatShape } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import { DataType, type NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, constantIntegers, normalizeAxis } from '../attributes.js';
import { MAX_DIMENSION } from '../integers.js';
import { importDataSlice } from './layout.js';
import { concatConstants, sliceConstant } from '../constant-folding.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { tensorValue } from '../initializers.js';
import type { ConstValue } from '../values.js';
import { isRecurrentInitialState } from './recurrent.js';

/** Constant: a numeric tensor, float(s) or int(s). */
export function importConstant(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  const name = node.output[0]!;
  const t = attrs.get('value')?.t;
  if (t !== undefined) {
    ctx.setConst(name, { ...tensorValue(t, `${describeNode(node)}: tensor '${t.name || name}'`, ctx.tensors), source: name });
    return;
  }
  const f = attrs.get('value_float');
  const fs = attrs.get('value_floats');
  const i = attrs.get('value_int');
  const is = attrs.get('value_ints');
  if (f?.f !== undefined) ctx.setConst(name, { shape: [], values: Float64Array.of(f.f), dataType: DataType.FLOAT, source: name });
  else if (fs !== undefined) ctx.setConst(name, { shape: [fs.floats.length], values: Float64Array.from(fs.floats), dataType: DataType.FLOAT, source: name });
  else if (i?.i !== undefined) ctx.setConst(name, { shape: [], values: Float64Array.of(i.i), dataType: DataType.INT64, source: name });
  else if (is !== undefined) ctx.setConst(name, { shape: [is.ints.length], values: Float64Array.from(is.ints), dataType: DataType.INT64, source: name });
  else throw new OnnxImportError(`${describeNode(node)}: only numeric tensor constants are supported (value, value_float(s), value_int(s))`);
}

/** Shape (start, end): the dimensions, the batch marked as such. */
export function importShape(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  const attrs = new Attributes(node);
  let shape: readonly number[];
  let batch: boolean[];
  if (value?.kind === 'data') {
    shape = value.tensor.shape;
    batch = shape.map((_, i) => i === 0);
  } else if (value?.kind === 'const') {
    shape = value.shape;
    batch = shape.map(() => false);
  } else throw new OnnxImportError(`${describeNode(node)}: the input is missing`);
  const rank = shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(attrs.int('start', 0));
  const end = clamp(attrs.int('end', rank));
  const dims = shape.slice(start, end);
  const mask = batch.slice(start, end);
  ctx.setConst(node.output[0]!, { shape: [dims.length], values: Float64Array.from(dims), dataType: DataType.INT64, ...(mask.some((b) => b) && { batch: mask }) });
}

/** Concat of constants. */
export function importConcat(ctx: ImportContext, node: NodeProto): void {
  const axisAttr = new Attributes(node).int('axis', 0);
  const parts = node.input.map((_, i) => ctx.value(node, i));
  if (parts.some((p) => p?.kind !== 'const')) {
    throw new OnnxImportError(`${describeNode(node)}: Concat of data tensors is not supported (only of constants, e.g. in shape computations)`);
  }
  const consts = parts as ConstValue[];
  if (consts.length === 0) throw new OnnxImportError(`${describeNode(node)}: Concat without inputs`);
  const rank = consts[0]!.shape.length;
  const axis = normalizeAxis(axisAttr, rank, node);
  const outShape = [...consts[0]!.shape];
  if (consts.some((c) => c.shape.length !== rank || c.shape.some((d, i) => i !== axis && d !== outShape[i]))) {
    throw new OnnxImportError(`${describeNode(node)}: shapes ${consts.map((c) => formatShape(c.shape)).join(', ')} differ outside axis ${axis}`);
  }
  concatConstants(ctx, node, consts, axis);
}

/**
 * ConstantOfShape: a constant of the given (constant) shape filled with
 * `value` (default 0); its shape may depend on the batch size only where it
 * is an initial state of RNN or LSTM (which checks that it is zero).
 */
export function importConstantOfShape(ctx: ImportContext, node: NodeProto): void {
  const shapeValue = ctx.constant(node, 0, 'the shape');
  if (shapeValue.batch?.some((b) => b) && !isRecurrentInitialState(ctx, node.output[0]!)) {
    throw new OnnxImportError(`${describeNode(node)}: a constant whose shape depends on the batch size is supported only as the initial state of RNN or LSTM`);
  }
  const shape = constantIntegers(shapeValue, 'the shape', [0, MAX_DIMENSION], node);
  const t = new Attributes(node).get('value')?.t;
  const fill = t === undefined ? { values: Float64Array.of(0), dataType: DataType.FLOAT } : tensorValue(t, `${describeNode(node)}: value`, ctx.tensors);
  const { values } = ctx.constantOutput(node, shape, false);
  values.fill(fill.values[0] ?? 0);
  ctx.setConst(node.output[0]!, { shape, values, dataType: fill.dataType });
}

/** Slice: of a constant folded (starts and ends clamped, negative steps); of data a Slicing. */
export function importSlice(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  if (value?.kind !== 'const') {
    importDataSlice(ctx, node, ctx.data(node, 0));
    return;
  }
  const attrs = new Attributes(node);
  const rank = value.shape.length;
  const list = (i: number, name: string) => {
    const values = ctx.opset >= 10 ? (node.input[i] ? [...ctx.constant(node, i, name).values] : undefined) : attrs.ints(name);
    // Any integer: starts and ends beyond the dimension (INT64_MAX, "to the end") are clamped.
    if (values !== undefined && values.some((v) => !Number.isInteger(v))) {
      throw new OnnxImportError(`${describeNode(node)}: ${name} [${values.join(', ')}] must hold integers`);
    }
    return values;
  };
  const starts = list(1, 'starts');
  const ends = list(2, 'ends');
  if (starts === undefined || ends === undefined) throw new OnnxImportError(`${describeNode(node)}: starts and ends are required`);
  const axes = (list(3, 'axes') ?? starts.map((_, i) => i)).map((a) => normalizeAxis(a, rank, node));
  const steps = list(4, 'steps') ?? starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw new OnnxImportError(
      `${describeNode(node)}: starts, ends, axes and steps have ${starts.length}, ${ends.length}, ${axes.length} and ${steps.length} entries; they must have one each per sliced axis`,
    );
  }
  const begin = value.shape.map(() => 0);
  const step = value.shape.map(() => 1);
  const size = [...value.shape];
  axes.forEach((a, i) => {
    const dim = value.shape[a]!;
    const s = steps[i]!;
    if (s === 0) throw new OnnxImportError(`${describeNode(node)}: step 0 on axis ${a}`);
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const b = s > 0 ? clampIdx(starts[i]!, 0, dim) : clampIdx(starts[i]!, -1, dim - 1);
    const e = s > 0 ? clampIdx(ends[i]!, 0, dim) : clampIdx(ends[i]!, -1, dim - 1);
    begin[a] = b;
    step[a] = s;
    size[a] = Math.max(0, Math.ceil((e - b) / s));
  });
  sliceConstant(ctx, node, value, begin, step, size);
}
