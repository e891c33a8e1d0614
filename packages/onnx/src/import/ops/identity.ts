/**
 * Operators that pass data through in inference: Identity, Dropout
 * (a `Dropout` module, identity in evaluation mode) and Cast between float
 * types (converting constants of any numeric type).
 */
import { Dropout } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import { dataTypeName, type NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, unroundFloat32 } from '../attributes.js';
import { mapConstant } from '../constant-folding.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { isFloatType, isIntType } from '../initializers.js';

/** Identity: its output is its input. */
export function importIdentity(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  if (value === undefined) throw new OnnxImportError(`${describeNode(node)}: the input is missing`);
  ctx.alias(node.output[0]!, value);
}

/** Dropout in inference mode (the mask output unused). */
export function importDropout(ctx: ImportContext, node: NodeProto): void {
  if (node.output.slice(1).some((o) => ctx.isLive(o))) {
    throw new OnnxImportError(`${describeNode(node)}: the dropout mask output is used; only inference-mode Dropout is supported`);
  }
  const attrs = new Attributes(node);
  const training = ctx.opset >= 12 ? ctx.optionalConstant(node, 2, 'training_mode') : undefined;
  if (training !== undefined && training.values[0] !== 0) {
    throw new OnnxImportError(`${describeNode(node)}: training_mode is true; only inference-mode Dropout is supported`);
  }
  const ratioValue = ctx.opset >= 12 ? ctx.optionalConstant(node, 1, 'ratio') : undefined;
  const ratio = ratioValue !== undefined ? unroundFloat32(ratioValue.values[0]!) : attrs.float('ratio', 0.5);
  ctx.emit([node], new Dropout(ratio), [ctx.data(node, 0)], [], node.output[0]!);
}

/** Cast: of data, between float types (or int types) only; of constants, any numeric type. */
export function importCast(ctx: ImportContext, node: NodeProto): void {
  const to = new Attributes(node).int('to', 0);
  const value = ctx.value(node, 0);
  if (value?.kind === 'const') {
    const values = isIntType(to) ? mapConstant(ctx, node, value, Math.trunc) : value.values;
    ctx.setConst(node.output[0]!, { shape: value.shape, values, dataType: to, ...(value.batch && { batch: value.batch }) });
    return;
  }
  const x = ctx.data(node, 0);
  const dataIsFloat = x.tensor.dtype !== 'int32';
  if (dataIsFloat && isFloatType(to)) ctx.alias(node.output[0]!, x);
  else if (!dataIsFloat && isIntType(to)) ctx.alias(node.output[0]!, x);
  else throw new OnnxImportError(`${describeNode(node)}: casting ${x.tensor.dtype} data to ${dataTypeName(to)} is not supported`);
}
