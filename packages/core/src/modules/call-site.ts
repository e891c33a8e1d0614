import type { CallFrame, OpNode } from '../tensor/autograd.js';
import type { GraphNode } from './leaf-module.js';
import type { Module } from './module.js';
import type { Parameter } from './parameter.js';
import { formatShape } from '../tensor/shape.js';

/**
 * The module running in `frame`, named by its dotted path inside the
 * outermost module of the call (found without `extend()`): `BasicBlock
 * 'layer1.0' of ResNet`, just `ResNet` at the top.
 */
function describeFrame(frame: CallFrame): string {
  const inner = frame.owner as Module;
  let root = frame;
  while (root.parent !== undefined) root = root.parent;
  const outer = root.owner as Module;
  if (inner === outer) return outer.describe();
  const path = outer.namedModules().find(([, module]) => module === inner)?.[0];
  // Not a registered child: a module kept in a plain field, or a functional loss's module.
  if (path === undefined) return `${inner.typeName} (called by ${outer.describe()})`;
  return `${inner.typeName} '${path}' of ${outer.describe()}`;
}

/**
 * Where an op was recorded, for messages: `in the forward of BasicBlock
 * 'layer1.0' of ResNet`, or `outside any module`.
 */
export function describeCallSite(frame: CallFrame | undefined): string {
  return frame === undefined ? 'outside any module' : `in the forward of ${describeFrame(frame)}`;
}

/**
 * A recorded node for messages: a module call as its module (`Linear '0'`;
 * named through its callers when `extend()` gave it no path), an op with
 * where it ran, e.g. `op 'sum' (called in the forward of Net)`.
 */
export function describeNode(node: OpNode | GraphNode): string {
  if (node.kind === 'op') return `op '${node.name}' (called ${describeCallSite(node.calledIn)})`;
  return node.module.path === '' && node.calledIn !== undefined ? describeFrame(node.calledIn) : node.module.describe();
}

/**
 * A parameter for messages, by its dotted name in the outermost module of
 * the call where it was used (`parameter 'block.0.weight' of Net`), else by
 * its shape.
 */
export function describeParameter(parameter: Parameter, usedIn: CallFrame | undefined): string {
  let root = usedIn;
  while (root?.parent !== undefined) root = root.parent;
  const outer = root?.owner as Module | undefined;
  const name = outer?.namedParameters().find(([, p]) => p === parameter)?.[0];
  return name === undefined ? `a parameter of shape ${formatShape(parameter.data.shape)}` : `parameter '${name}' of ${outer!.describe()}`;
}
