/**
 * Constant folding: what the importer computes itself, on constants
 * (shape computations, weight preprocessing): elementwise arithmetic with
 * broadcasting, 2-d MatMul, Gather, Concat and Slice. The batch mask of
 * shape values travels along (entries that are the batch size may be
 * selected and concatenated, not computed with). Every result's memory is
 * reserved (`ImportContext.constantOutput`) before it is allocated.
 */
import { formatShape, sizeOf } from '@backpack-ts/core';
import { OnnxImportError } from '../errors.js';
import type { NodeProto } from '../proto/onnx-proto.js';
import { normalizeAxis } from './attributes.js';
import type { ImportContext } from './context.js';
import { describeNode } from './describe.js';
import { isIntType } from './initializers.js';
import type { ConstValue } from './values.js';

/** Row-major strides of `shape`, in elements. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  return strides;
}

/** `f` of every value of the constant `value`, into memory reserved for `node`. */
export function mapConstant(ctx: ImportContext, node: NodeProto, value: ConstValue, f: (v: number) => number): Float64Array {
  const { values } = ctx.constantOutput(node, value.shape, false);
  for (let i = 0; i < values.length; i++) values[i] = f(value.values[i]!);
  return values;
}

/** `f` of every value of the node's constant input, as its output (not of the batch size). */
export function constUnary(ctx: ImportContext, node: NodeProto, f: (v: number) => number): void {
  const value = ctx.constant(node, 0, 'the input');
  if (value.batch?.some((b) => b)) throw new OnnxImportError(`${describeNode(node)}: arithmetic on the batch size is not supported`);
  ctx.setConst(node.output[0]!, { shape: value.shape, values: mapConstant(ctx, node, value, f), dataType: value.dataType });
}

/** Elementwise arithmetic on constants (NumPy broadcasting), and MatMul of two constants. */
export function constBinary(ctx: ImportContext, node: NodeProto, op: string): void {
  const operands = node.input.map((_, i) => ctx.constant(node, i, `input ${i}`));
  if (operands.some((c) => c.batch?.some((b) => b))) {
    throw new OnnxImportError(`${describeNode(node)}: arithmetic on the batch size is not supported (shape computations may only select and concatenate dimensions)`);
  }
  if (op === 'MatMul') {
    const [a, b] = operands as [ConstValue, ConstValue];
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) throw new OnnxImportError(`${describeNode(node)}: only 2-d constant MatMul is supported`);
    const [m, k, n] = [a.shape[0]!, a.shape[1]!, b.shape[1]!];
    const { values } = ctx.constantOutput(node, [m, n], false);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a.values[i * k + l]! * b.values[l * n + j]!;
      values[i * n + j] = s;
    }
    ctx.setConst(node.output[0]!, { shape: [m, n], values, dataType: a.dataType });
    return;
  }
  const intDivision = isIntType(operands[0]!.dataType);
  const f: (a: number, b: number) => number =
    op === 'Sub' ? (a, b) => a - b : op === 'Mul' ? (a, b) => a * b : op === 'Div' ? (a, b) => (intDivision ? Math.trunc(a / b) : a / b) : (a, b) => a + b;
  const rank = Math.max(...operands.map((c) => c.shape.length));
  const aligned = operands.map((c) => [...new Array<number>(rank - c.shape.length).fill(1), ...c.shape]);
  const outShape = Array.from({ length: rank }, (_, d) => Math.max(...aligned.map((s) => s[d]!)));
  if (aligned.some((s) => s.some((dim, d) => dim !== 1 && dim !== outShape[d]))) {
    throw new OnnxImportError(`${describeNode(node)}: shapes ${operands.map((c) => formatShape(c.shape)).join(', ')} do not broadcast`);
  }
  const { values } = ctx.constantOutput(node, outShape, false);
  // Row by row (the last dimension), one operand after the other: tight loops for large broadcasts.
  const row = rank === 0 ? 1 : outShape[rank - 1]!;
  const outer = rank === 0 ? [] : outShape.slice(0, -1);
  // Each operand's strides in the output's index space: 0 along the dimensions it is broadcast in.
  const strides = aligned.map((shape) => stridesOf(shape).map((stride, d) => (shape[d] === 1 ? 0 : stride)));
  const steps = strides.map((s) => (rank === 0 ? 0 : s[rank - 1]!));
  const index = new Array<number>(outer.length).fill(0);
  const offsets = new Array<number>(operands.length).fill(0);
  for (let start = 0; start < values.length; start += row) {
    for (let o = 0; o < operands.length; o++) {
      const [source, step, at] = [operands[o]!.values, steps[o]!, offsets[o]!];
      if (o === 0) for (let j = 0; j < row; j++) values[start + j] = source[at + j * step]!;
      else for (let j = 0; j < row; j++) values[start + j] = f(values[start + j]!, source[at + j * step]!);
    }
    // The next row's index, its last dimension fastest; the offsets follow.
    for (let d = outer.length - 1; d >= 0; d--) {
      index[d]!++;
      for (let o = 0; o < operands.length; o++) offsets[o]! += strides[o]![d]!;
      if (index[d]! < outer[d]!) break;
      for (let o = 0; o < operands.length; o++) offsets[o]! -= strides[o]![d]! * outer[d]!;
      index[d] = 0;
    }
  }
  ctx.setConst(node.output[0]!, { shape: outShape, values, dataType: operands[0]!.dataType });
}

/** Concat of constants along `axis` (their shapes checked to agree elsewhere), as the node's output. */
export function concatConstants(ctx: ImportContext, node: NodeProto, consts: readonly ConstValue[], axis: number): void {
  const outShape = [...consts[0]!.shape];
  outShape[axis] = consts.reduce((s, c) => s + c.shape[axis]!, 0);
  const { values, batch } = ctx.constantOutput(node, outShape, consts.some((c) => c.batch !== undefined));
  const outer = sizeOf(outShape.slice(0, axis));
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const c of consts) {
      const block = sizeOf(c.shape.slice(axis));
      values.set(c.values.subarray(o * block, (o + 1) * block), at);
      if (batch !== undefined && c.batch !== undefined) for (let k = 0; k < block; k++) batch[at + k] = c.batch[o * block + k]!;
      at += block;
    }
  }
  ctx.setConst(node.output[0]!, { shape: outShape, values, dataType: consts[0]!.dataType, ...(batch?.some((b) => b) && { batch }) });
}

/** The slice of `value` from `begin` by `step` (per dimension), `size` long, as the node's output. */
export function sliceConstant(ctx: ImportContext, node: NodeProto, value: ConstValue, begin: readonly number[], step: readonly number[], size: readonly number[]): void {
  const rank = value.shape.length;
  const inStrides = stridesOf(value.shape);
  const { values, batch } = ctx.constantOutput(node, size, value.batch !== undefined);
  const outStrides = stridesOf(size);
  for (let flat = 0; flat < values.length; flat++) {
    let src = 0;
    for (let d = 0; d < rank; d++) {
      const idx = Math.floor(flat / outStrides[d]!) % size[d]!;
      src += (begin[d]! + idx * step[d]!) * inStrides[d]!;
    }
    values[flat] = value.values[src]!;
    if (batch !== undefined) batch[flat] = value.batch![src]!;
  }
  ctx.setConst(node.output[0]!, { shape: size, values, dataType: value.dataType, ...(batch?.some((b) => b) && { batch }) });
}

/** Gather of constants: `indices` picked along `axisAttr` of `data` (negative indices count from the end). */
export function gatherConstant(ctx: ImportContext, node: NodeProto, data: ConstValue, indices: ConstValue, axisAttr: number): void {
  const rank = data.shape.length;
  const axis = normalizeAxis(axisAttr, Math.max(rank, 1), node);
  const dim = data.shape[axis]!;
  const outer = sizeOf(data.shape.slice(0, axis));
  const inner = sizeOf(data.shape.slice(axis + 1));
  const idx = [...indices.values].map((i) => {
    const j = i < 0 ? i + dim : i;
    if (!(j >= 0 && j < dim)) throw new OnnxImportError(`${describeNode(node)}: index ${i} is out of range for dimension ${dim}`);
    return j;
  });
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const { values, batch } = ctx.constantOutput(node, shape, data.batch !== undefined);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const j of idx) {
      const src = (o * dim + j) * inner;
      values.set(data.values.subarray(src, src + inner), at);
      if (batch !== undefined) for (let k = 0; k < inner; k++) batch[at + k] = data.batch![src + k]!;
      at += inner;
    }
  }
  ctx.setConst(node.output[0]!, { shape, values, dataType: data.dataType, ...(batch?.some((b) => b) && { batch }) });
}

/**
 * Transpose of a constant by `perm`, as the node's output. A 2-d transpose of
 * an initializer keeps its name (`sourceTransposed`), so a weight transposed
 * before a MatMul (an export without constant folding) is still named and
 * reported as the initializer.
 */
export function transposeConstant(ctx: ImportContext, node: NodeProto, value: ConstValue, perm: readonly number[]): void {
  const shape = perm.map((p) => value.shape[p]!);
  const inStrides = stridesOf(value.shape);
  const outStrides = stridesOf(shape);
  const { values, batch } = ctx.constantOutput(node, shape, value.batch !== undefined);
  for (let flat = 0; flat < values.length; flat++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += (Math.floor(flat / outStrides[d]!) % shape[d]!) * inStrides[perm[d]!]!;
    values[flat] = value.values[src]!;
    if (batch !== undefined) batch[flat] = value.batch![src]!;
  }
  const keepsName = value.source !== undefined && shape.length === 2;
  ctx.setConst(node.output[0]!, {
    shape,
    values,
    dataType: value.dataType,
    ...(batch?.some((b) => b) && { batch }),
    ...(keepsName && { source: value.source, sourceTransposed: perm[0] === 1 ? value.sourceTransposed !== true : value.sourceTransposed === true }),
  });
}
