/**
 * Pooling: MaxPool and AveragePool (`MaxPool1d/2d/3d`, `AvgPool1d/2d/3d`,
 * a Pad before an AveragePool folded in), GlobalAveragePool
 * (`AdaptiveAvgPool` with output size 1) and GlobalMaxPool (a MaxPool over
 * the whole input).
 */
import {
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  formatShape,
} from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, POSITIVE } from '../attributes.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { paddedInput, resolvePads, symmetric, zeroPad2d } from './padding.js';

/** The module classes by spatial rank 1 to 3. */
const MAX_POOL = [MaxPool1d, MaxPool2d, MaxPool3d] as const;
const AVG_POOL = [AvgPool1d, AvgPool2d, AvgPool3d] as const;
const ADAPTIVE = [AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d] as const;

/** MaxPool or AveragePool (`kind`), with PyTorch's restrictions: ceil_mode only where it changes nothing. */
function pool(ctx: ImportContext, node: NodeProto, kind: 'max' | 'average'): void {
  const attrs = new Attributes(node);
  if (kind === 'max' && ctx.isLive(node.output[1])) {
    throw new OnnxImportError(`${describeNode(node)}: the Indices output is used; only the pooled values are supported`);
  }
  const { x: input, extra, padNode } = kind === 'average' ? paddedInput(ctx, node) : { x: ctx.data(node, 0), extra: undefined, padNode: undefined };
  const n = input.tensor.rank - 2;
  if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: expects [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${formatShape(input.tensor.shape)}`);
  const kernel = attrs.ints('kernel_shape', POSITIVE);
  if (kernel === undefined || kernel.length !== n) throw new OnnxImportError(`${describeNode(node)}: kernel_shape must have ${n} entries`);
  const strides = attrs.spatial('strides', n, 1, POSITIVE);
  const dilations = attrs.spatial('dilations', n, 1, POSITIVE);
  if (kind === 'average' && dilations.some((d) => d !== 1)) throw new OnnxImportError(`${describeNode(node)}: dilated average pooling is not supported`);
  const spatial = input.tensor.shape.slice(2);
  const { begin, end } = resolvePads(node, attrs, spatial.map((s, d) => s + 2 * (extra?.[d] ?? 0)), kernel, strides, dilations);
  let countIncludePad = attrs.int('count_include_pad', 0) !== 0;
  let padding = begin;
  let x = input;
  if (extra !== undefined) {
    if (begin.some((p, d) => p !== 0 || end[d] !== 0) && !countIncludePad) {
      throw new OnnxImportError(`${describeNode(node)}: a Pad before an AveragePool that pads again without count_include_pad cannot be expressed`);
    }
    padding = begin.map((p, d) => p + extra[d]!);
    countIncludePad = true;
  } else if (!symmetric(begin, end)) {
    if (kind === 'average' && countIncludePad && n === 2) {
      x = zeroPad2d(ctx, node, x, begin, end);
      padding = [0, 0];
    } else {
      throw new OnnxImportError(`${describeNode(node)}: asymmetric pads [${[...begin, ...end].join(', ')}] are not supported here (only for 2-d average pooling with count_include_pad = 1)`);
    }
  }
  if (attrs.int('ceil_mode', 0) !== 0) {
    const padded = x.tensor.shape.slice(2).map((s, d) => s + 2 * padding[d]!);
    padded.forEach((size, d) => {
      const extent = (kernel[d]! - 1) * dilations[d]! + 1;
      const floorOut = Math.floor((size - extent) / strides[d]!) + 1;
      let ceilOut = Math.ceil((size - extent) / strides[d]!) + 1;
      if ((ceilOut - 1) * strides[d]! >= size - padding[d]!) ceilOut--;
      if (ceilOut !== floorOut) {
        throw new OnnxImportError(`${describeNode(node)}: ceil_mode = 1 gives a larger output (${ceilOut} instead of ${floorOut} in spatial dimension ${d}); only sizes where ceil and floor agree are supported`);
      }
    });
  }
  const module =
    kind === 'max'
      ? new MAX_POOL[n - 1]!(kernel, { stride: strides, padding, dilation: dilations })
      : new AVG_POOL[n - 1]!(kernel, { stride: strides, padding, countIncludePad });
  ctx.emit(padNode === undefined ? [node] : [padNode, node], module, [x], [], node.output[0]!);
}

/** MaxPool: MaxPool1d/2d/3d (the Indices output unused). */
export function importMaxPool(ctx: ImportContext, node: NodeProto): void {
  pool(ctx, node, 'max');
}

/** AveragePool: AvgPool1d/2d/3d (count_include_pad). */
export function importAveragePool(ctx: ImportContext, node: NodeProto): void {
  pool(ctx, node, 'average');
}

/** GlobalAveragePool: AdaptiveAvgPool with output size 1. */
export function importGlobalAveragePool(ctx: ImportContext, node: NodeProto): void {
  const x = ctx.data(node, 0);
  const n = x.tensor.rank - 2;
  if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: expects [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${formatShape(x.tensor.shape)}`);
  ctx.emit([node], new ADAPTIVE[n - 1]!(1), [x], [], node.output[0]!);
}

/** GlobalMaxPool: a MaxPool whose window is the whole input. */
export function importGlobalMaxPool(ctx: ImportContext, node: NodeProto): void {
  const x = ctx.data(node, 0);
  const n = x.tensor.rank - 2;
  if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: expects [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${formatShape(x.tensor.shape)}`);
  const spatial = x.tensor.shape.slice(2);
  ctx.emit([node], new MAX_POOL[n - 1]!(spatial, { stride: spatial }), [x], [], node.output[0]!);
}
