/**
 * Gemm and MatMul: `Linear` modules. ONNX stores a MatMul weight `[in, out]`
 * (and Gemm's B with `transB = 0`); Linear holds `[out, in]`, so those are
 * transposed, and alpha/beta are folded into weight and bias. A constant
 * Add right after MatMul (tf2onnx's BiasAdd) becomes the bias.
 */
import { Linear, formatShape, sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes } from '../attributes.js';
import { channelVector, type ImportContext } from '../context.js';
import { constBinary } from '../constant-folding.js';
import { describeNode } from '../describe.js';

/** Transposes a row-major `[rows, cols]` matrix. */
function transpose2d(values: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j]!;
  return out;
}

/** `values` times `scale` (themselves when it is 1). */
function scaled(values: Float64Array, scale: number): Float64Array {
  return scale === 1 ? values : values.map((v) => v * scale);
}

/** Gemm: a Linear (transA = 0), alpha and beta folded into its weight and bias. */
export function importGemm(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  if (attrs.int('transA', 0) !== 0) {
    throw new OnnxImportError(`${describeNode(node)}: transA = 1 would put the batch in the second dimension; only transA = 0 is supported`);
  }
  const x = ctx.data(node, 0, 'input A');
  const b = ctx.constant(node, 1, 'input B (the weight)');
  const transB = attrs.int('transB', 0) !== 0;
  const alpha = attrs.float('alpha', 1);
  const beta = attrs.float('beta', 1);
  if (x.tensor.rank !== 2) throw new OnnxImportError(`${describeNode(node)}: input A must be 2-d [batch, features], got ${formatShape(x.tensor.shape)}`);
  if (b.shape.length !== 2) throw new OnnxImportError(`${describeNode(node)}: weight B must be 2-d, got ${formatShape(b.shape)}`);
  const [out, inF] = transB ? [b.shape[0]!, b.shape[1]!] : [b.shape[1]!, b.shape[0]!];
  const weight = scaled(transB ? b.values : transpose2d(b.values, b.shape[0]!, b.shape[1]!), alpha);
  const params = [ctx.param(node, 'weight', b, weight, [out, inF], { transposed: !transB, scale: alpha })];
  const c = ctx.optionalConstant(node, 2, 'input C (the bias)');
  let output = node.output[0]!;
  const nodes = [node];
  if (c !== undefined) {
    const bias = channelVector(c.shape, c.values, out, 1, 2);
    if (bias === undefined) throw new OnnxImportError(`${describeNode(node)}: bias C of shape ${formatShape(c.shape)} does not broadcast as one value per output (${out})`);
    params.push(ctx.param(node, 'bias', c, scaled(bias, beta), [out], { scale: beta }));
    if (sizeOf(c.shape) === 1 && out > 1) ctx.notes.push(`${describeNode(node)}: the single bias value of '${c.source}' is a parameter per output`);
  } else {
    const fused = ctx.fuseBias(output, out, 1, 2);
    if (fused !== undefined) {
      params.push(ctx.param(fused.add, 'bias', fused.bias, fused.values, [out]));
      output = fused.add.output[0]!;
      nodes.push(fused.add);
    }
  }
  if (alpha !== 1 || (beta !== 1 && c !== undefined)) {
    ctx.notes.push(`${describeNode(node)}: alpha = ${alpha}, beta = ${beta} are folded into the Linear's weight and bias`);
  }
  const module = new Linear(inF, out, { bias: params.length > 1, backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator });
  ctx.emit(nodes, module, [x], params, output);
}

/** MatMul of data and a constant 2-d weight: a Linear, with a following constant Add as its bias; of two constants: folded. */
export function importMatMul(ctx: ImportContext, node: NodeProto): void {
  const a = ctx.value(node, 0);
  const b = ctx.value(node, 1);
  if (a?.kind !== 'data' || b?.kind !== 'const') {
    if (a?.kind === 'const' && b?.kind === 'const') return constBinary(ctx, node, 'MatMul');
    throw new OnnxImportError(
      `${describeNode(node)}: only data times a constant weight (x · W) is supported; got ${a?.kind ?? 'nothing'} times ${b?.kind ?? 'nothing'}`,
    );
  }
  if (b.shape.length !== 2) throw new OnnxImportError(`${describeNode(node)}: the weight must be 2-d, got ${formatShape(b.shape)}`);
  const [inF, out] = [b.shape[0]!, b.shape[1]!];
  const rank = a.tensor.rank;
  if (rank < 2) throw new OnnxImportError(`${describeNode(node)}: data input of shape ${formatShape(a.tensor.shape)} has no feature dimension`);
  const params = [ctx.param(node, 'weight', b, transpose2d(b.values, inF, out), [out, inF], { transposed: true })];
  let output = node.output[0]!;
  const nodes = [node];
  const fused = ctx.fuseBias(output, out, rank - 1, rank);
  if (fused !== undefined) {
    params.push(ctx.param(fused.add, 'bias', fused.bias, fused.values, [out]));
    output = fused.add.output[0]!;
    nodes.push(fused.add);
  }
  const module = new Linear(inF, out, { bias: fused !== undefined, backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator });
  ctx.emit(nodes, module, [a], params, output);
}
