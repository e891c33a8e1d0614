/**
 * RNN and LSTM: core's `RNN` and `LSTM`, as PyTorch exports them: one layer
 * per node, forward direction, zero initial states, X the time-major
 * transpose of batch-first data and Y squeezed on the directions axis and
 * transposed back (time-major.ts: the import keeps the batch axis first, so
 * the module is batch-first and the Squeeze, part of its step, gives a
 * time-major view of its output). The weights may be computed from
 * initializers (PyTorch adds the directions axis with Unsqueeze and
 * reorders LSTM gates with Slice and Concat; constant folding evaluates
 * that); ONNX's LSTM gate order i, o, f, c is mapped back to PyTorch's i, f,
 * g, o. Each parameter is named after the initializer that holds exactly
 * its values in PyTorch's layout (`0.weight_ih_l0`, ...), preferring one
 * whose name ends in the parameter's own name, else after the node.
 */
import { LSTM, RNN, formatShape, type RNNBase } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes } from '../attributes.js';
import type { ImportContext } from '../context.js';
import { describeNode } from '../describe.js';
import { MAX_DIMENSION } from '../integers.js';
import type { ConstValue, ParamSpec } from '../values.js';
import { batchFirstSource, defineTimeMajorView, leavesTimeMajor } from './time-major.js';

/** ONNX's LSTM gate blocks (i, o, f, c) in PyTorch's order (i, f, g, o): PyTorch block k is ONNX block `LSTM_GATES[k]`. */
const LSTM_GATES = [0, 2, 3, 1];

/** Inputs of RNN and LSTM by position. */
const X = 0;
const W = 1;
const R = 2;
const B = 3;
const SEQUENCE_LENS = 4;
const INITIAL_H = 5;
const INITIAL_C = 6;
const PEEPHOLES = 7;

/** The operator's description in the terms of core's modules. */
interface Recurrent {
  readonly op: 'RNN' | 'LSTM';
  /** Gate blocks per weight (G). */
  readonly gates: number;
  /** ONNX block of each PyTorch block. */
  readonly order: readonly number[];
}

/** RNN: core's RNN (activation Tanh or Relu). */
export function importRnn(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  const activations = activationNames(attrs) ?? ['Tanh'];
  if (activations.length !== 1 || (activations[0] !== 'Tanh' && activations[0] !== 'Relu')) {
    throw new OnnxImportError(`${describeNode(node)}: activations [${activations.join(', ')}] are not supported; RNN supports Tanh or Relu (PyTorch's nonlinearity)`);
  }
  const nonlinearity = activations[0] === 'Relu' ? 'relu' : 'tanh';
  importRecurrent(ctx, node, { op: 'RNN', gates: 1, order: [0] }, (inputSize, hidden, bias) =>
    new RNN(inputSize, hidden, { nonlinearity, bias, batchFirst: true, backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator }),
  );
}

/** LSTM: core's LSTM (the default activations Sigmoid, Tanh, Tanh; no peepholes). */
export function importLstm(ctx: ImportContext, node: NodeProto): void {
  const attrs = new Attributes(node);
  const activations = activationNames(attrs);
  if (activations !== undefined && activations.join(',') !== 'Sigmoid,Tanh,Tanh') {
    throw new OnnxImportError(`${describeNode(node)}: activations [${activations.join(', ')}] are not supported; LSTM supports the default Sigmoid, Tanh, Tanh`);
  }
  if (attrs.int('input_forget', 0) !== 0) throw new OnnxImportError(`${describeNode(node)}: input_forget = 1 (coupled input and forget gates) is not supported`);
  const peepholes = ctx.optionalConstant(node, PEEPHOLES, 'P (peepholes)');
  if (peepholes !== undefined && peepholes.values.some((v) => v !== 0)) {
    throw new OnnxImportError(`${describeNode(node)}: peephole weights P are not supported (PyTorch's LSTM has none)`);
  }
  importRecurrent(ctx, node, { op: 'LSTM', gates: 4, order: LSTM_GATES }, (inputSize, hidden, bias) =>
    new LSTM(inputSize, hidden, { bias, batchFirst: true, backend: ctx.backend, dtype: ctx.dtype, generator: ctx.generator }),
  );
}

/** Whether every reader of the value `name` is an RNN or LSTM node that takes it as its initial state. */
export function isRecurrentInitialState(ctx: ImportContext, name: string): boolean {
  const readers = ctx.consumers.get(name) ?? [];
  return readers.every(
    (reader) => reader !== null && (reader.opType === 'RNN' || reader.opType === 'LSTM') && reader.input.every((input, i) => input !== name || i === INITIAL_H || i === INITIAL_C),
  );
}

/** The `activations` attribute as strings, undefined when absent. */
function activationNames(attrs: Attributes): string[] | undefined {
  const a = attrs.get('activations');
  return a === undefined ? undefined : a.strings.map((s) => new TextDecoder().decode(s));
}

/** The rows of `values` (`[G·H, cols]`, ONNX's gate blocks) in PyTorch's block order. */
function reorderGates(values: Float64Array, order: readonly number[], hidden: number, cols: number): Float64Array {
  const out = new Float64Array(values.length);
  const block = hidden * cols;
  order.forEach((from, k) => out.set(values.subarray(from * block, (from + 1) * block), k * block));
  return out;
}

/**
 * The initializer (or Constant) holding exactly `values`, preferring one
 * whose name ends in `.{local}` (PyTorch's), else undefined.
 */
function sourceOf(ctx: ImportContext, values: Float64Array, local: string): ConstValue | undefined {
  const matches: ConstValue[] = [];
  for (const [name, value] of ctx.values) {
    if (value.kind !== 'const' || value.source !== name || value.values.length !== values.length) continue;
    if (value.values.every((v, i) => v === values[i])) matches.push(value);
  }
  return matches.find((m) => m.source!.endsWith(`.${local}`)) ?? (matches.length === 1 ? matches[0] : undefined);
}

/** A constant input that must have `shape`, or an error naming the node. */
function shapedConstant(ctx: ImportContext, node: NodeProto, i: number, what: string, shape: readonly number[]): ConstValue {
  const value = ctx.constant(node, i, what);
  if (value.shape.length !== shape.length || value.shape.some((d, k) => d !== shape[k])) {
    throw new OnnxImportError(`${describeNode(node)}: ${what} has shape ${formatShape(value.shape)}, expected ${formatShape(shape)}`);
  }
  return value;
}

/**
 * The Squeeze of Y's directions axis, which must be Y's only consumer:
 * axes [1] (or [-3]), or, where the axes are computed later in the graph,
 * any axes when axis 1 is Y's only axis of size 1 (T, N and H above 1).
 */
function directionsSqueeze(ctx: ImportContext, node: NodeProto, y: readonly number[]): NodeProto {
  const squeeze = ctx.soleConsumer(node.output[0]!);
  const expected = `Y ${formatShape(y)} must feed one Squeeze of axis 1 (the directions axis), as PyTorch exports it`;
  if (squeeze?.opType !== 'Squeeze') throw new OnnxImportError(`${describeNode(node)}: ${expected}`);
  // Opset 13 made the axes an input; before, they were an attribute.
  const axesName = ctx.opset >= 13 ? squeeze.input[1] : undefined;
  const attribute = ctx.opset >= 13 ? undefined : new Attributes(squeeze).ints('axes');
  if (!axesName && attribute === undefined) throw new OnnxImportError(`${describeNode(node)}: ${expected}; the Squeeze has no axes`);
  const input = axesName ? ctx.values.get(axesName) : undefined;
  const known = attribute ?? (input?.kind === 'const' ? [...input.values] : undefined);
  if (known !== undefined) {
    if (known.length !== 1 || (known[0] !== 1 && known[0] !== -3)) throw new OnnxImportError(`${describeNode(node)}: ${expected}; it squeezes axes [${known.join(', ')}]`);
    return squeeze;
  }
  if (y.filter((d) => d === 1).length !== 1) {
    throw new OnnxImportError(`${describeNode(node)}: ${expected}; its axes are computed after the ${node.opType} node and Y has more than one axis of size 1`);
  }
  return squeeze;
}

/** The part of RNN and LSTM they share: inputs, attributes, parameters, the module, the step. */
function importRecurrent(ctx: ImportContext, node: NodeProto, kind: Recurrent, create: (inputSize: number, hidden: number, bias: boolean) => RNNBase): void {
  const attrs = new Attributes(node);
  const direction = attrs.string('direction', 'forward');
  if (direction !== 'forward') throw new OnnxImportError(`${describeNode(node)}: direction '${direction}' is not supported (forward only; bidirectional layers are two modules in PyTorch terms)`);
  if (attrs.int('layout', 0) !== 0) throw new OnnxImportError(`${describeNode(node)}: layout 1 (batch-first X) is not supported; PyTorch exports layout 0 (time-major)`);
  for (const unsupported of ['clip', 'activation_alpha', 'activation_beta']) {
    if (attrs.get(unsupported) !== undefined) throw new OnnxImportError(`${describeNode(node)}: attribute '${unsupported}' is not supported`);
  }
  const hidden = attrs.int('hidden_size', 0, [1, MAX_DIMENSION]);
  if (hidden === 0) throw new OnnxImportError(`${describeNode(node)}: attribute 'hidden_size' is required`);
  const x = batchFirstSource(ctx.data(node, X, 'X'));
  if (x === undefined) {
    throw new OnnxImportError(
      `${describeNode(node)}: X must be the time-major Transpose (perm [1, 0, 2]) of batch-first data, as PyTorch exports it; the import keeps the batch axis first`,
    );
  }
  const [batch, steps, inputSize] = x.tensor.shape as [number, number, number];
  const rows = kind.gates * hidden;
  const w = shapedConstant(ctx, node, W, 'W', [1, rows, inputSize]);
  const r = shapedConstant(ctx, node, R, 'R', [1, rows, hidden]);
  const b = node.input[B] ? shapedConstant(ctx, node, B, 'B', [1, 2 * rows]) : undefined;
  if (node.input[SEQUENCE_LENS]) throw new OnnxImportError(`${describeNode(node)}: sequence_lens (sequences of different lengths) is not supported`);
  for (const [i, what] of [[INITIAL_H, 'initial_h'], [INITIAL_C, 'initial_c']] as const) {
    if (i === INITIAL_C && kind.op !== 'LSTM') continue;
    const state = ctx.optionalConstant(node, i, what);
    if (state !== undefined && state.values.some((v) => v !== 0)) throw new OnnxImportError(`${describeNode(node)}: a non-zero ${what} is not supported (the modules start from zero states)`);
  }
  const finalStates = node.output.slice(1).filter((name) => ctx.isLive(name));
  if (finalStates.length > 0) {
    throw new OnnxImportError(`${describeNode(node)}: the final states (${finalStates.join(', ')}) are used; only the output Y is supported (the module's final states are not part of its graph)`);
  }
  const squeeze = directionsSqueeze(ctx, node, [steps, 1, batch, hidden]);
  const sequence = squeeze.output[0]!;
  const readers = ctx.consumers.get(sequence) ?? [];
  const backToBatchFirst = (reader: NodeProto | null) => reader?.opType === 'Transpose' && leavesTimeMajor(new Attributes(reader).ints('perm') ?? []);
  if (readers.length === 0 || !readers.every(backToBatchFirst)) {
    throw new OnnxImportError(
      `${describeNode(node)}: the time-major output (the Squeeze of Y) must be read only by Transposes that put the batch first, as PyTorch exports it; the import keeps the batch axis first`,
    );
  }

  const params: ParamSpec[] = [];
  const add = (local: string, onnx: ConstValue, values: Float64Array, shape: readonly number[]) => {
    const source = sourceOf(ctx, values, local);
    if (source === undefined) ctx.notes.push(`${describeNode(node)}: '${local}' is named after the node (no initializer holds its values${kind.op === 'LSTM' ? ` in PyTorch's gate order i, f, g, o` : ''})`);
    params.push(ctx.param(node, local, source ?? { ...onnx, source: undefined }, values, shape));
  };
  add('weight_ih_l0', w, reorderGates(w.values, kind.order, hidden, inputSize), [rows, inputSize]);
  add('weight_hh_l0', r, reorderGates(r.values, kind.order, hidden, hidden), [rows, hidden]);
  if (b !== undefined) {
    add('bias_ih_l0', b, reorderGates(b.values.subarray(0, rows), kind.order, hidden, 1), [rows]);
    add('bias_hh_l0', b, reorderGates(b.values.subarray(rows), kind.order, hidden, 1), [rows]);
  }
  ctx.consumed.add(squeeze);
  const output = ctx.emit([node, squeeze], create(inputSize, hidden, b !== undefined), [x], params, sequence);
  defineTimeMajorView(ctx, sequence, output);
}
