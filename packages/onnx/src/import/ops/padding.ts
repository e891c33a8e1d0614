/**
 * Padding: the Pad operator (Pad or ZeroPad2d, or zero padding held back to
 * be folded into the Conv or AveragePool that consumes it) and what the
 * convolution and pooling operators share: resolving `pads`/`auto_pad`,
 * taking a pending Pad as their input, and ZeroPad2d steps for asymmetric
 * 2-d padding.
 */
import { Pad, ZeroPad2d } from '@backpack-ts/core';
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

/**
 * Pad (constant mode, any value, any dimension but the batch; negative pads
 * crop): zero padding of the spatial dimensions of `[N, C, H, W]` is a
 * ZeroPad2d, symmetric zero padding of other spatial inputs is held back
 * for the Conv or AveragePool after it, and anything else a `Pad`.
 */
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
  const begin = pads.slice(0, rank);
  const end = pads.slice(rank);
  if (begin.every((p) => p === 0) && end.every((p) => p === 0)) {
    ctx.alias(node.output[0]!, x);
    return;
  }
  if (begin[0] !== 0 || end[0] !== 0) {
    throw new OnnxImportError(`${describeNode(node)}: pads [${pads.join(', ')}] pad the batch dimension; only the other dimensions may be padded`);
  }
  const spatialOnly = rank >= 3 && begin[1] === 0 && end[1] === 0 && value === 0;
  if (spatialOnly && rank === 4 && [...begin, ...end].every((p) => p >= 0)) {
    ctx.emit([node], new ZeroPad2d([begin[3]!, end[3]!, begin[2]!, end[2]!]), [x], [], node.output[0]!);
    return;
  }
  const consumer = ctx.soleConsumer(node.output[0]!);
  const spatialBegin = begin.slice(2);
  if (spatialOnly && consumer !== undefined && (consumer.opType === 'Conv' || consumer.opType === 'AveragePool') && symmetric(spatialBegin, end.slice(2)) && spatialBegin.every((p) => p >= 0)) {
    ctx.alias(node.output[0]!, { kind: 'pad', source: x, spatial: spatialBegin, node });
    return;
  }
  // torch.nn.functional.pad's order: the last dimension's pair first, every dimension but the batch.
  const torchPad = Array.from({ length: rank - 1 }, (_, i) => [begin[rank - 1 - i]!, end[rank - 1 - i]!]).flat();
  ctx.emit([node], new Pad(torchPad, { value }), [x], [], node.output[0]!);
}
