/**
 * Activations: ReLU, Sigmoid, Tanh, LeakyReLU, ELU, SELU, and LogSigmoid
 * from the two ways exporters write it (`Log(Sigmoid(x))`,
 * `-Softplus(-x)`). Log and Neg of constants are folded.
 */
import { ELU, LeakyReLU, LogSigmoid, ReLU, SELU, Sigmoid, Tanh, type LeafModule } from '@backpack-ts/core';
import { OnnxImportError } from '../../errors.js';
import type { NodeProto } from '../../proto/onnx-proto.js';
import { Attributes } from '../attributes.js';
import { constUnary } from '../constant-folding.js';
import type { Handler, ImportContext } from '../context.js';
import { describeNode } from '../describe.js';

/** The handler of an activation of one data input, the module made by `make`. */
function activation(make: (attrs: Attributes, node: NodeProto) => LeafModule): Handler {
  return (ctx, node) => {
    const x = ctx.data(node, 0);
    ctx.emit([node], make(new Attributes(node), node), [x], [], node.output[0]!);
  };
}

/** Relu: ReLU. */
export const importRelu: Handler = activation(() => new ReLU());
/** Tanh. */
export const importTanh: Handler = activation(() => new Tanh());
/** LeakyRelu: LeakyReLU with its alpha. */
export const importLeakyRelu: Handler = activation((attrs) => new LeakyReLU(attrs.float('alpha', 0.01)));
/** Elu: ELU with its alpha. */
export const importElu: Handler = activation((attrs) => new ELU(attrs.float('alpha', 1)));
/** Selu: PyTorch's SELU; other alpha and gamma are refused. */
export const importSelu: Handler = activation((attrs, node) => {
  const alpha = attrs.float('alpha', 1.6732632423543772);
  const gamma = attrs.float('gamma', 1.0507009873554805);
  if (Math.abs(alpha - 1.6732632423543772) > 1e-6 || Math.abs(gamma - 1.0507009873554805) > 1e-6) {
    throw new OnnxImportError(`${describeNode(node)}: alpha ${alpha} and gamma ${gamma} differ from SELU's constants (1.6733, 1.0507); only SELU is supported`);
  }
  return new SELU();
});

/** Sigmoid; followed only by Log, LogSigmoid. */
export function importSigmoid(ctx: ImportContext, node: NodeProto): void {
  const x = ctx.data(node, 0);
  const log = ctx.soleConsumer(node.output[0]!);
  if (log?.opType === 'Log') {
    ctx.consumed.add(log);
    ctx.emit([node, log], new LogSigmoid(), [x], [], log.output[0]!);
    return;
  }
  ctx.emit([node], new Sigmoid(), [x], [], node.output[0]!);
}

/** Neg: folded on a constant; on data only as -Softplus(-x), LogSigmoid. */
export function importNeg(ctx: ImportContext, node: NodeProto): void {
  const value = ctx.value(node, 0);
  if (value?.kind === 'const') return constUnary(ctx, node, (v) => -v);
  const softplus = ctx.soleConsumer(node.output[0]!);
  const neg = softplus?.opType === 'Softplus' ? ctx.soleConsumer(softplus.output[0]!) : undefined;
  if (softplus === undefined || neg?.opType !== 'Neg') {
    throw new OnnxImportError(`${describeNode(node)}: Neg of data is supported only as -Softplus(-x) (LogSigmoid)`);
  }
  ctx.consumed.add(softplus);
  ctx.consumed.add(neg);
  ctx.emit([node, softplus, neg], new LogSigmoid(), [ctx.data(node, 0)], [], neg.output[0]!);
}

/** Softplus: only inside -Softplus(-x), which Neg imports. */
export function importSoftplus(_ctx: ImportContext, node: NodeProto): void {
  throw new OnnxImportError(`${describeNode(node)}: Softplus is supported only as -Softplus(-x) (LogSigmoid); core has no Softplus module`);
}

/** Log: folded on a constant; Log(Sigmoid(x)) is imported by Sigmoid. */
export function importLog(ctx: ImportContext, node: NodeProto): void {
  if (ctx.value(node, 0)?.kind === 'const') return constUnary(ctx, node, Math.log);
  throw new OnnxImportError(`${describeNode(node)}: Log is supported only as Log(Sigmoid(x)) (LogSigmoid)`);
}
