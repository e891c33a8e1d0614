/**
 * Gather: on an initializer with data indices, an `Embedding`; on data
 * with one constant index, a `Slicing` (layout.ts); on constants (shape
 * computations), folded.
 */
import { Embedding, formatShape } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, normalizeAxis } from '../attributes.js';
import { gatherConstant } from '../constant-folding.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { importDataGather } from './layout.js';

/** Gather: an Embedding (rows of a 2-d initializer by data indices), or folded on constants. */
export function importGather(ctx: ImportContext, node: NodeProto): void {
  const data = ctx.value(node, 0);
  const indices = ctx.value(node, 1);
  const axisAttr = new Attributes(node).int('axis', 0);
  if (data?.kind === 'const' && indices?.kind === 'const') {
    gatherConstant(ctx, node, data, indices, axisAttr);
    return;
  }
  if (data?.kind === 'data' && indices?.kind === 'const') {
    importDataGather(ctx, node, data);
    return;
  }
  if (data?.kind !== 'const' || indices?.kind !== 'data') {
    throw new OnnxImportError(`${describeNode(node)}: Gather is supported on an initializer with data indices (an embedding), on data with a constant index (Slicing) or on constants`);
  }
  if (data.shape.length !== 2 || normalizeAxis(axisAttr, 2, node) !== 0) {
    throw new OnnxImportError(`${describeNode(node)}: an embedding gathers rows (axis 0) of a 2-d table; got axis ${axisAttr} of ${formatShape(data.shape)}`);
  }
  if (indices.tensor.dtype !== 'int32') throw new OnnxImportError(`${describeNode(node)}: indices must be integers, got ${indices.tensor.dtype}`);
  const [count, dim] = [data.shape[0]!, data.shape[1]!];
  const module = new Embedding(count, dim, { backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator });
  ctx.emit([node], module, [indices], [ctx.param(node, 'weight', data, data.values, data.shape)], node.output[0]!);
}
