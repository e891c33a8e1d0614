/**
 * BatchNormalization in inference mode: `BatchNorm1d/2d/3d` with the
 * file's scale, bias and running statistics.
 */
import { BatchNorm1d, BatchNorm2d, BatchNorm3d, formatShape, sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes } from '../attributes.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';

/** By input rank: [N, C] and [N, C, L] are BatchNorm1d. */
const BATCH_NORM = [BatchNorm1d, BatchNorm1d, BatchNorm2d, BatchNorm3d] as const;

/** BatchNormalization (inference mode): BatchNorm1d/2d/3d with running_mean and running_var. */
export function importBatchNormalization(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  if (attrs.int('training_mode', 0) !== 0 || node.output.slice(1).some((o) => ctx.isLive(o))) {
    throw new OnnxImportError(`${describeNode(node)}: training mode (batch statistics as outputs) is not supported; export the model in evaluation mode`);
  }
  const x = ctx.data(node, 0);
  const rank = x.tensor.rank;
  if (rank < 2 || rank > 5) throw new OnnxImportError(`${describeNode(node)}: input ${formatShape(x.tensor.shape)} must be [N, C] or [N, C, ...spatial] with up to 3 spatial dimensions`);
  const channels = x.tensor.shape[1]!;
  const names = ['scale', 'B', 'input_mean', 'input_var'] as const;
  const locals = ['weight', 'bias', 'running_mean', 'running_var'] as const;
  const params = names.map((name, i) => {
    const c = ctx.constant(node, i + 1, name);
    if (sizeOf(c.shape) !== channels) throw new OnnxImportError(`${describeNode(node)}: ${name} ${formatShape(c.shape)} does not have ${channels} entries`);
    return ctx.param(node, locals[i]!, c, c.values, [channels]);
  });
  const momentum = 1 - attrs.float('momentum', 0.9);
  const BatchNorm = BATCH_NORM[rank - 2]!;
  const module = new BatchNorm(channels, {
    eps: attrs.float('epsilon', 1e-5),
    momentum: momentum >= 0 && momentum <= 1 ? momentum : 0.1,
    backend: ctx.backend,
    dtype: ctx.dtype,
  });
  ctx.emit([node], module, [x], params, node.output[0]!);
}
