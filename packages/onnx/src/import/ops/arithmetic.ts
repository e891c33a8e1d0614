/**
 * Add, Sum, Sub, Mul and Div: folded on constants; on data the residual
 * Add (or Sum) of branches of equal shape (an `Add` module: BackPACK's
 * Parallel merges so) and Mul or Div by one number (a `ScaleModule`). A
 * constant added to data is a bias, absorbed by the MatMul, Gemm or Conv
 * before it.
 */
import { Add, ScaleModule, formatShape } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { constBinary } from '../constant-folding.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import type { DataValue } from '../values.js';

/** `op` of the node's inputs: folded on constants, a residual Add of data, or refused. */
function binary(ctx: ImportContext, node: NodeProto, op: string): void {
  if (node.input.length === 0) throw new OnnxImportError(`${describeNode(node)}: ${op} without inputs`);
  const operands = node.input.map((_, i) => ctx.value(node, i));
  if (operands.every((v) => v?.kind === 'const')) {
    constBinary(ctx, node, op);
    return;
  }
  if (op === 'Mul' || op === 'Div') {
    scaleData(ctx, node, op);
    return;
  }
  const isAdd = op === 'Add' || op === 'Sum';
  if (!isAdd) throw new OnnxImportError(`${describeNode(node)}: ${op} of data is not supported (only of constants)`);
  if (operands.some((v) => v?.kind !== 'data')) {
    throw new OnnxImportError(`${describeNode(node)}: adding a constant to data is supported only as the bias right after MatMul, Gemm or Conv (whose output feeds nothing else)`);
  }
  const inputs = operands as DataValue[];
  if (inputs.length === 1) {
    ctx.alias(node.output[0]!, inputs[0]!);
    return;
  }
  const first = inputs[0]!.tensor.shape;
  const bad = inputs.find((v) => v.tensor.shape.length !== first.length || v.tensor.shape.some((d, i) => d !== first[i]));
  if (bad !== undefined) {
    throw new OnnxImportError(`${describeNode(node)}: residual ${op} needs branches of equal shape, got ${inputs.map((v) => formatShape(v.tensor.shape)).join(' and ')} (broadcasting is not supported)`);
  }
  ctx.emit([node], new Add(), inputs, [], node.output[0]!);
}

/** Data times (or divided by) one constant number: a ScaleModule. */
function scaleData(ctx: ImportContext, node: NodeProto, op: 'Mul' | 'Div'): void {
  const kinds = [ctx.value(node, 0)?.kind, ctx.value(node, 1)?.kind];
  const dataIndex = kinds[0] === 'data' ? 0 : 1;
  const constIndex = 1 - dataIndex;
  if (node.input.length !== 2 || kinds[dataIndex] !== 'data' || kinds[constIndex] !== 'const' || (op === 'Div' && dataIndex !== 0)) {
    throw new OnnxImportError(`${describeNode(node)}: ${op} of data is supported only ${op === 'Mul' ? 'by' : 'of data by'} one constant number (a ScaleModule)`);
  }
  const factor = ctx.constant(node, constIndex, 'the factor');
  if (factor.values.length !== 1 || factor.batch !== undefined) {
    throw new OnnxImportError(`${describeNode(node)}: ${op} of data by a constant of shape ${formatShape(factor.shape)} is not supported (only by one number, a ScaleModule)`);
  }
  const x = ctx.data(node, dataIndex);
  if (factor.shape.length > x.tensor.rank) throw new OnnxImportError(`${describeNode(node)}: the factor of shape ${formatShape(factor.shape)} would add dimensions to the data`);
  const value = factor.values[0]!;
  ctx.emit([node], new ScaleModule(op === 'Mul' ? value : 1 / value), [x], [], node.output[0]!);
}

/** Add: a residual Add of data, or folded on constants. */
export function importAdd(ctx: ImportContext, node: NodeProto): void {
  binary(ctx, node, 'Add');
}
/** Sum: as Add, of any number of inputs. */
export function importSum(ctx: ImportContext, node: NodeProto): void {
  binary(ctx, node, 'Sum');
}
/** Sub of constants. */
export function importSub(ctx: ImportContext, node: NodeProto): void {
  binary(ctx, node, 'Sub');
}
/** Mul of constants, or of data by one number (ScaleModule). */
export function importMul(ctx: ImportContext, node: NodeProto): void {
  binary(ctx, node, 'Mul');
}
/** Div of constants (truncating for integers), or of data by one number (ScaleModule). */
export function importDiv(ctx: ImportContext, node: NodeProto): void {
  binary(ctx, node, 'Div');
}
