/**
 * Flatten, Reshape, Squeeze and Unsqueeze. On data only flattenings are
 * supported (merging consecutive dimensions after the batch: `Flatten`);
 * on constants (shape computations) any of them.
 */
import { Flatten, formatShape, sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, constantIntegers, normalizeAxis } from '../attributes.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { MAX_DIMENSION } from '../integers.js';
import type { DataValue } from '../values.js';

/** Maps a reshape of data to Flatten(start, end) (or nothing), or refuses it. */
function flattenTo(ctx: ImportContext, node: NodeProto, x: DataValue, outShape: readonly number[]): void {
  const inShape = x.tensor.shape;
  if (outShape.length === inShape.length && outShape.every((d, i) => d === inShape[i])) {
    ctx.alias(node.output[0]!, x);
    return;
  }
  if (outShape[0] !== inShape[0]) {
    throw new OnnxImportError(`${describeNode(node)}: reshaping ${formatShape(inShape)} to ${formatShape(outShape)} changes the batch dimension (trace batch ${ctx.traceBatch}); only flattening after the batch is supported`);
  }
  for (let start = 1; start < inShape.length; start++) {
    for (let end = start; end < inShape.length; end++) {
      const merged = [...inShape.slice(0, start), sizeOf(inShape.slice(start, end + 1)), ...inShape.slice(end + 1)];
      if (merged.length === outShape.length && merged.every((d, i) => d === outShape[i])) {
        ctx.emit([node], new Flatten(start, end), [x], [], node.output[0]!);
        return;
      }
    }
  }
  throw new OnnxImportError(
    `${describeNode(node)}: reshaping ${formatShape(inShape)} to ${formatShape(outShape)} is not a flattening; only reshapes that merge consecutive dimensions after the batch are supported`,
  );
}

/** Flatten keeping the batch dimension (of data), or a reshape of a constant. */
export function importFlatten(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  if (value?.kind === 'const') {
    const rank = value.shape.length;
    const axis = new Attributes(node).int('axis', 1);
    const a = axis < 0 ? axis + rank : axis;
    ctx.setConst(node.output[0]!, { ...value, shape: [sizeOf(value.shape.slice(0, a)), sizeOf(value.shape.slice(a))], source: undefined });
    return;
  }
  const x = ctx.data(node, 0);
  const rank = x.tensor.rank;
  const axisAttr = new Attributes(node).int('axis', 1);
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (axis < 1 || axis > rank) throw new OnnxImportError(`${describeNode(node)}: axis ${axisAttr} merges the batch dimension of ${formatShape(x.tensor.shape)} with others; only axis >= 1 is supported`);
  if (x.tensor.shape.slice(1, axis).some((d) => d !== 1)) {
    throw new OnnxImportError(`${describeNode(node)}: axis ${axisAttr} merges the batch with dimensions of ${formatShape(x.tensor.shape)} that are not 1`);
  }
  if (rank === 2) {
    ctx.alias(node.output[0]!, x);
    return;
  }
  ctx.emit([node], new Flatten(1, -1), [x], [], node.output[0]!);
}

/** Reshape: a Flatten of data (the batch kept), or a reshape of a constant. */
export function importReshape(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  const shapeValue = ctx.constant(node, 1, 'the target shape');
  const allowZero = new Attributes(node).int('allowzero', 0) !== 0;
  const inShape = value?.kind === 'data' ? value.tensor.shape : value?.kind === 'const' ? value.shape : undefined;
  if (inShape === undefined) throw new OnnxImportError(`${describeNode(node)}: the data input is missing`);
  const target = constantIntegers(shapeValue, 'the target shape', [-1, MAX_DIMENSION], node).map((d, i) => (d === 0 && !allowZero ? inShape[i]! : d));
  const known = sizeOf(target.filter((d) => d !== -1));
  const total = sizeOf(inShape);
  const inferred = target.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
  if (sizeOf(inferred) !== total || inferred.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new OnnxImportError(`${describeNode(node)}: cannot reshape ${formatShape(inShape)} to [${[...shapeValue.values].join(', ')}]`);
  }
  if (value!.kind === 'const') {
    ctx.setConst(node.output[0]!, { shape: inferred, values: value!.values, dataType: value!.dataType, ...(value!.batch && { batch: value!.batch }) });
    return;
  }
  const first = shapeValue.values[0];
  const literalBatch = first !== undefined && first !== -1 && !(first === 0 && !allowZero) && !shapeValue.batch?.[0];
  if (literalBatch && ctx.batchIsSymbolic) {
    throw new OnnxImportError(
      `${describeNode(node)}: the target shape [${[...shapeValue.values].join(', ')}] fixes the first dimension to ${first}, but the batch size is dynamic; only reshapes that keep the batch dimension (as x.view(x.size(0), -1) exports) are supported`,
    );
  }
  flattenTo(ctx, node, ctx.data(node, 0), inferred);
}

/** Squeeze: a Flatten of data (never the batch dimension), or a reshape of a constant. */
export function importSqueeze(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  const inShape = value?.kind === 'data' ? value.tensor.shape : value?.kind === 'const' ? value.shape : undefined;
  if (inShape === undefined) throw new OnnxImportError(`${describeNode(node)}: the data input is missing`);
  const axesValue = ctx.opset >= 13 ? ctx.optionalConstant(node, 1, 'axes') : undefined;
  const axesList = ctx.opset >= 13 ? (axesValue === undefined ? undefined : [...axesValue.values]) : new Attributes(node).ints('axes');
  const axes = axesList === undefined ? inShape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : axesList.map((a) => normalizeAxis(a, inShape.length, node));
  if (axes.some((a) => inShape[a] !== 1)) throw new OnnxImportError(`${describeNode(node)}: cannot squeeze axes [${axes.join(', ')}] of ${formatShape(inShape)} (not of size 1)`);
  const outShape = inShape.filter((_, i) => !axes.includes(i));
  if (value!.kind === 'const') {
    ctx.setConst(node.output[0]!, { shape: outShape, values: value!.values, dataType: value!.dataType, ...(value!.batch && { batch: value!.batch }) });
    return;
  }
  if (axes.includes(0)) throw new OnnxImportError(`${describeNode(node)}: squeezing axis 0 removes the batch dimension of ${formatShape(inShape)}`);
  flattenTo(ctx, node, ctx.data(node, 0), outShape);
}

/** Unsqueeze of a constant (shape computations). */
export function importUnsqueeze(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  const axesList = ctx.opset >= 13 ? [...ctx.constant(node, 1, 'axes').values] : (new Attributes(node).ints('axes') ?? []);
  if (value?.kind !== 'const') {
    throw new OnnxImportError(`${describeNode(node)}: Unsqueeze of data adds dimensions, which is not a flattening; only Unsqueeze of constants (shape computations) is supported`);
  }
  const rank = value.shape.length + axesList.length;
  const axes = axesList.map((a) => normalizeAxis(a, rank, node));
  const shape: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : value.shape[next++]!);
  ctx.setConst(node.output[0]!, { shape, values: value.values, dataType: value.dataType, ...(value.batch && { batch: value.batch }) });
}
