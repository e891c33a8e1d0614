/**
 * Conv and ConvTranspose: `Conv1d/2d/3d` and `ConvTranspose1d/2d/3d`.
 * Asymmetric 2-d pads, which the modules cannot express, go through a
 * ZeroPad2d step (before a convolution, cropping after a transposed one).
 */
import { Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, ZeroPad2d, formatShape, sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes, NON_NEGATIVE, POSITIVE } from '../attributes.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { paddedInput, resolvePads, symmetric, zeroPad2d } from './padding.js';

/** The module classes by spatial rank 1 to 3. */
const CONV = [Conv1d, Conv2d, Conv3d] as const;
const CONV_T = [ConvTranspose1d, ConvTranspose2d, ConvTranspose3d] as const;

/** Conv: Conv1d/2d/3d, a Pad before it folded in, a constant Add after it as its bias. */
export function importConv(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  const { x: input, extra, padNode } = paddedInput(ctx, node);
  const w = ctx.constant(node, 1, 'the weight');
  const n = w.shape.length - 2;
  if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: ${n}-d convolutions are not supported (1-d to 3-d are)`);
  if (input.tensor.rank !== n + 2) throw new OnnxImportError(`${describeNode(node)}: input ${formatShape(input.tensor.shape)} does not fit a ${n}-d weight ${formatShape(w.shape)}`);
  const group = attrs.int('group', 1, POSITIVE);
  const kernel = attrs.spatial('kernel_shape', n, 0, NON_NEGATIVE).map((k, d) => (k === 0 ? w.shape[d + 2]! : k));
  if (kernel.some((k, d) => k !== w.shape[d + 2])) throw new OnnxImportError(`${describeNode(node)}: kernel_shape [${kernel.join(', ')}] does not match the weight ${formatShape(w.shape)}`);
  const strides = attrs.spatial('strides', n, 1, POSITIVE);
  const dilations = attrs.spatial('dilations', n, 1, POSITIVE);
  const spatial = input.tensor.shape.slice(2).map((s, d) => s + 2 * (extra?.[d] ?? 0));
  let { begin, end } = resolvePads(node, attrs, spatial, kernel, strides, dilations);
  if (extra !== undefined) {
    begin = begin.map((p, d) => p + extra[d]!);
    end = end.map((p, d) => p + extra[d]!);
  }
  const [outC, inC] = [w.shape[0]!, w.shape[1]! * group];
  const params = [ctx.param(node, 'weight', w, w.values, w.shape)];
  const b = ctx.optionalConstant(node, 2, 'the bias');
  let output = node.output[0]!;
  const nodes = padNode === undefined ? [node] : [padNode, node];
  if (b !== undefined) {
    if (sizeOf(b.shape) !== outC) throw new OnnxImportError(`${describeNode(node)}: bias ${formatShape(b.shape)} does not have ${outC} entries`);
    params.push(ctx.param(node, 'bias', b, b.values, [outC]));
  } else {
    const fused = ctx.fuseBias(output, outC, 1, n + 2);
    if (fused !== undefined) {
      params.push(ctx.param(fused.add, 'bias', fused.bias, fused.values, [outC]));
      output = fused.add.output[0]!;
      nodes.push(fused.add);
    }
  }
  let x = input;
  let padding = begin;
  if (!symmetric(begin, end)) {
    if (n !== 2) {
      throw new OnnxImportError(`${describeNode(node)}: asymmetric pads [${[...begin, ...end].join(', ')}] are supported for 2-d convolutions only (through ZeroPad2d)`);
    }
    x = zeroPad2d(ctx, node, x, begin, end);
    padding = [0, 0];
  }
  const Conv = CONV[n - 1]!;
  const module = new Conv(inC, outC, kernel, {
    stride: strides,
    padding,
    dilation: dilations,
    groups: group,
    bias: params.length > 1,
    backend: ctx.backend,
    dtype: ctx.dtype,
    generator: ctx.generator,
  });
  ctx.emit(nodes, module, [x], params, output);
}

/** ConvTranspose: ConvTranspose1d/2d/3d (output_padding; output_shape only where pads give it). */
export function importConvTranspose(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  const x = ctx.data(node, 0, 'the data input');
  const w = ctx.constant(node, 1, 'the weight');
  const n = w.shape.length - 2;
  if (n < 1 || n > 3) throw new OnnxImportError(`${describeNode(node)}: ${n}-d transposed convolutions are not supported (1-d to 3-d are)`);
  const group = attrs.int('group', 1, POSITIVE);
  const kernel = attrs.spatial('kernel_shape', n, 0, NON_NEGATIVE).map((k, d) => (k === 0 ? w.shape[d + 2]! : k));
  if (kernel.some((k, d) => k !== w.shape[d + 2])) throw new OnnxImportError(`${describeNode(node)}: kernel_shape [${kernel.join(', ')}] does not match the weight ${formatShape(w.shape)}`);
  if (x.tensor.rank !== n + 2) throw new OnnxImportError(`${describeNode(node)}: input ${formatShape(x.tensor.shape)} does not fit a ${n}-d weight ${formatShape(w.shape)}`);
  const strides = attrs.spatial('strides', n, 1, POSITIVE);
  const dilations = attrs.spatial('dilations', n, 1, POSITIVE);
  const outputPadding = attrs.spatial('output_padding', n, 0, NON_NEGATIVE);
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== '' && autoPad !== 'VALID') {
    throw new OnnxImportError(`${describeNode(node)}: auto_pad '${autoPad}' is not supported for ConvTranspose (NOTSET and VALID are; export with explicit pads)`);
  }
  const pads = autoPad === 'VALID' ? new Array<number>(2 * n).fill(0) : (attrs.ints('pads', NON_NEGATIVE) ?? new Array<number>(2 * n).fill(0));
  if (pads.length !== 2 * n) throw new OnnxImportError(`${describeNode(node)}: pads has ${pads.length} entries, expected ${2 * n}`);
  const [begin, end] = [pads.slice(0, n), pads.slice(n)];
  const [inC, outC] = [w.shape[0]!, w.shape[1]! * group];
  const padding = begin.map((b, d) => Math.min(b, end[d]!));
  const module = (bias: boolean) =>
    new CONV_T[n - 1]!(inC, outC, kernel, {
      stride: strides,
      padding,
      outputPadding,
      dilation: dilations,
      groups: group,
      bias,
      backend: ctx.backend,
      dtype: ctx.dtype,
      generator: ctx.generator,
    });
  const params = [ctx.param(node, 'weight', w, w.values, w.shape)];
  const b = ctx.optionalConstant(node, 2, 'the bias');
  if (b !== undefined) {
    if (sizeOf(b.shape) !== outC) throw new OnnxImportError(`${describeNode(node)}: bias ${formatShape(b.shape)} does not have ${outC} entries`);
    params.push(ctx.param(node, 'bias', b, b.values, [outC]));
  }
  const outputShape = attrs.ints('output_shape', POSITIVE);
  if (outputShape !== undefined) {
    const expected = x.tensor.shape.slice(2).map((s, d) => (s - 1) * strides[d]! - begin[d]! - end[d]! + dilations[d]! * (kernel[d]! - 1) + outputPadding[d]! + 1);
    const given = outputShape.slice(-n);
    if (given.some((s, d) => s !== expected[d])) {
      throw new OnnxImportError(`${describeNode(node)}: output_shape [${given.join(', ')}] differs from the size pads give ([${expected.join(', ')}]); export with explicit pads`);
    }
  }
  if (symmetric(begin, end)) {
    ctx.emit([node], module(b !== undefined), [x], params, node.output[0]!);
    return;
  }
  if (n !== 2) {
    throw new OnnxImportError(`${describeNode(node)}: asymmetric pads [${pads.join(', ')}] are supported for 2-d transposed convolutions only (cropped with ZeroPad2d)`);
  }
  // Pad the common part in the module, crop the rest afterwards.
  const y = ctx.emit([node], module(b !== undefined), [x], params, `${node.output[0]}::uncropped`);
  const crop = new ZeroPad2d([padding[1]! - begin[1]!, padding[1]! - end[1]!, padding[0]! - begin[0]!, padding[0]! - end[0]!]);
  ctx.emit([node], crop, [y], [], node.output[0]!);
}
