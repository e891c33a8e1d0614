/**
 * Padding: the Pad operator (ZeroPad2d, or zero padding held back to be
 * folded into the Conv or AveragePool that consumes it) and what the
 * convolution and pooling operators share: resolving `pads`/`auto_pad`,
 * taking a pending Pad as their input, and ZeroPad2d steps for asymmetric
 * 2-d padding.
 */
import { ZeroPad2d } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { MAX_DIMENSION } from '../integers.js';
import { Attributes, NON_NEGATIVE, constantIntegers, normalizeAxis } from '../attributes.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import type { DataValue } from '../values.js';

/** Spatial padding `[begin..., end...]` resolved from `pads`/`auto_pad` for an input of spatial size `spatial`. */
export function resolvePads(
  node: NodeProto,
  attrs: Attributes,
  spatial: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
): { begin: number[]; end: number[] } {
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  const n = spatial.length;
  if (autoPad === 'NOTSET' || autoPad === '') {
    const pads = attrs.ints('pads', NON_NEGATIVE) ?? new Array<number>(2 * n).fill(0);
    if (pads.length !== 2 * n) throw new OnnxImportError(`${describeNode(node)}: pads has ${pads.length} entries, expected ${2 * n}`);
    return { begin: pads.slice(0, n), end: pads.slice(n) };
  }
  if (autoPad === 'VALID') return { begin: new Array<number>(n).fill(0), end: new Array<number>(n).fill(0) };
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const begin: number[] = [];
    const end: number[] = [];
    spatial.forEach((size, d) => {
      const out = Math.ceil(size / strides[d]!);
      const extent = (kernel[d]! - 1) * dilations[d]! + 1;
      const total = Math.max((out - 1) * strides[d]! + extent - size, 0);
      const small = Math.floor(total / 2);
      begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      end.push(autoPad === 'SAME_UPPER' ? total - small : small);
    });
    return { begin, end };
  }
  throw new OnnxImportError(`${describeNode(node)}: auto_pad '${autoPad}' is not supported (NOTSET, VALID, SAME_UPPER, SAME_LOWER are)`);
}

/** The data input of a Conv/AveragePool, with a pending Pad before it folded in. */
export function paddedInput(ctx: ImportContext, node: NodeProto): { x: DataValue; extra: readonly number[] | undefined; padNode?: NodeProto } {
  const value = ctx.value(node, 0);
  if (value?.kind === 'pad') return { x: value.source, extra: value.spatial, padNode: value.node };
  return { x: ctx.data(node, 0, 'the data input'), extra: undefined };
}

/** A ZeroPad2d step for asymmetric 2-d padding `[top, left]`/`[bottom, right]`; returns its output. */
export function zeroPad2d(ctx: ImportContext, node: NodeProto, x: DataValue, begin: readonly number[], end: readonly number[]): DataValue {
  const module = new ZeroPad2d([begin[1]!, end[1]!, begin[0]!, end[0]!]);
  return ctx.emit([node], module, [x], [], `${node.output[0]}::pad`);
}

/** Whether padding is the same at the beginning and the end of every dimension. */
export function symmetric(begin: readonly number[], end: readonly number[]): boolean {
  return begin.every((b, i) => b === end[i]);
}

/** Pad (constant zero): ZeroPad2d for 2-d inputs, else held back for the Conv or AveragePool after it. */
export function importPad(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  const mode = attrs.string('mode', 'constant');
  if (mode !== 'constant') throw new OnnxImportError(`${describeNode(node)}: mode '${mode}' is not supported (only constant zero padding is)`);
  const x = ctx.data(node, 0);
  const rank = x.tensor.rank;
  let pads: number[];
  let value = 0;
  if (ctx.opset >= 11) {
    const p = ctx.constant(node, 1, 'pads');
    if (p.batch !== undefined) throw new OnnxImportError(`${describeNode(node)}: pads depend on the batch size`);
    pads = constantIntegers(p, 'pads', [-MAX_DIMENSION, MAX_DIMENSION], node);
    const v = ctx.optionalConstant(node, 2, 'constant_value');
    if (v !== undefined) value = v.values[0] ?? 0;
    const axesValue = ctx.optionalConstant(node, 3, 'axes');
    if (axesValue !== undefined) {
      const axes = [...axesValue.values].map((a) => normalizeAxis(a, rank, node));
      const full = new Array<number>(2 * rank).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i]!;
        full[a + rank] = pads[i + axes.length]!;
      });
      pads = full;
    }
  } else {
    pads = attrs.ints('pads', [-MAX_DIMENSION, MAX_DIMENSION]) ?? [];
    value = attrs.float('value', 0);
  }
  if (pads.length !== 2 * rank) throw new OnnxImportError(`${describeNode(node)}: pads has ${pads.length} entries for a rank-${rank} input (expected ${2 * rank})`);
  if (value !== 0) throw new OnnxImportError(`${describeNode(node)}: constant value ${value} is not supported (only zero padding is)`);
  const begin = pads.slice(0, rank);
  const end = pads.slice(rank);
  if (begin.every((p) => p === 0) && end.every((p) => p === 0)) {
    ctx.alias(node.output[0]!, x);
    return;
  }
  if (rank < 3 || begin[0] !== 0 || end[0] !== 0 || begin[1] !== 0 || end[1] !== 0) {
    throw new OnnxImportError(`${describeNode(node)}: pads [${pads.join(', ')}] pad the batch or channel dimension; only spatial padding of [N, C, ...spatial] is supported`);
  }
  if (rank === 4) {
    ctx.emit([node], new ZeroPad2d([begin[3]!, end[3]!, begin[2]!, end[2]!]), [x], [], node.output[0]!);
    return;
  }
  const consumer = ctx.soleConsumer(node.output[0]!);
  const spatialBegin = begin.slice(2);
  if (consumer !== undefined && (consumer.opType === 'Conv' || consumer.opType === 'AveragePool') && symmetric(spatialBegin, end.slice(2)) && spatialBegin.every((p) => p >= 0)) {
    ctx.alias(node.output[0]!, { kind: 'pad', source: x, spatial: spatialBegin, node });
    return;
  }
  throw new OnnxImportError(
    `${describeNode(node)}: zero padding of a ${rank - 2}-d input is supported only as symmetric padding right before a Conv or AveragePool (core has ZeroPad2d for 2-d inputs only)`,
  );
}
