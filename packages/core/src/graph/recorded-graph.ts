import type { Parameter } from '../modules/parameter.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { GraphNode } from '../modules/leaf-module.js';

/**
 * The part of the recorded graph a loss's gradient flows through, in the order the backward
 * pass visits it: every node comes after all nodes that consume its output.
 */
export class RecordedGraph {
  /**
   * Nodes from the loss back to the inputs (reverse topological order): the
   * loss and every node with a parameter at or before it. Modules that only
   * transform the data before the first parameter (e.g. a leading Flatten)
   * need no backward work and are left out.
   */
  readonly nodes: readonly GraphNode[];
  /** Nodes whose output's gradient is needed: a parameter is at or upstream of them. */
  private readonly upstreamOfParameters: ReadonlySet<GraphNode>;
  /** For each trainable parameter (`requiresGrad`), how many nodes use it (more than one means weight sharing). */
  readonly parameterUses: ReadonlyMap<Parameter, number>;

  constructor(
    /** The scalar loss the graph was recorded from. */
    readonly loss: Tensor,
  ) {
    const root = loss.producer;
    if (root === undefined) {
      throw new Error(
        `backward(): the tensor of shape ${formatShape(loss.shape)} was not produced by an extended module; ` +
          'call extend(model) and extend(lossFunction) before the forward pass',
      );
    }
    if (loss.size !== 1) {
      throw new RangeError(`backward(): the loss must be a scalar, got shape ${formatShape(loss.shape)}`);
    }
    const reachable = reverseTopologicalOrder(root);
    const consumed = reachable.find((node) => node.consumed);
    if (consumed !== undefined) {
      throw new Error(
        `backward(): this recorded forward pass was already used by a backward pass (at ${consumed.module.describe()}); run the forward pass again`,
      );
    }
    this.upstreamOfParameters = nodesWithParametersUpstream(reachable);
    this.nodes = reachable.filter((node) => node === root || this.upstreamOfParameters.has(node));
    const uses = new Map<Parameter, number>();
    for (const node of this.nodes) {
      for (const [, parameter] of node.module.ownTrainableParameters()) uses.set(parameter, (uses.get(parameter) ?? 0) + 1);
    }
    if (uses.size === 0) throw new Error(noParameterReached(root));
    this.parameterUses = uses;
  }

  /** The loss node (the root of the walk). */
  get root(): GraphNode {
    return this.nodes[0]!;
  }

  /** Whether anything upstream of `tensor` has parameters, so backpropagating into it is useful. */
  needsGradient(tensor: Tensor): boolean {
    return tensor.producer !== undefined && this.upstreamOfParameters.has(tensor.producer);
  }
}

/**
 * Why a pass from `root` would reach no parameter: PyTorch refuses a loss that
 * requires no gradient, and silently storing nothing hides a missing `extend()`.
 */
function noParameterReached(root: GraphNode): string {
  const inputs = root.module.differentiableInputs(root).map((i) => root.inputs[i]!);
  if (inputs.every((input) => input.producer === undefined)) {
    const shapes = inputs.map((input) => formatShape(input.shape)).join(', ');
    return (
      `backward(): the input of ${root.module.describe()} (shape ${shapes}) was not produced by an extended module, so no parameter would get a gradient; ` +
      'call extend(model) before the forward pass (ops applied to tensors outside modules are not recorded)'
    );
  }
  return `backward(): no module upstream of ${root.module.describe()} has parameters that require gradients, so there is nothing to differentiate`;
}

/** The nodes that have a trainable parameter themselves or upstream through a differentiable input (frozen ones need no work). */
function nodesWithParametersUpstream(reverseOrder: readonly GraphNode[]): Set<GraphNode> {
  const result = new Set<GraphNode>();
  for (let k = reverseOrder.length - 1; k >= 0; k--) {
    const node = reverseOrder[k]!; // producers come before their consumers in this direction
    const upstream = node.module.differentiableInputs(node).some((i) => {
      const producer = node.inputs[i]!.producer;
      return producer !== undefined && result.has(producer);
    });
    if (upstream || node.module.ownTrainableParameters().length > 0) result.add(node);
  }
  return result;
}

/**
 * Depth-first post-order from the root, reversed: consumers before producers.
 * Follows differentiable inputs only: a loss's target computed by an extended
 * module gets no gradient, so its producers are not part of the pass.
 * Iterative, so deep models cannot overflow the stack.
 */
function reverseTopologicalOrder(root: GraphNode): GraphNode[] {
  const order: GraphNode[] = [];
  const visited = new Set<GraphNode>();
  const frame = (node: GraphNode) => ({ node, inputs: node.module.differentiableInputs(node), next: 0 });
  const stack = [frame(root)];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const index = top.inputs[top.next++];
    if (index === undefined) {
      order.push(top.node);
      stack.pop();
      continue;
    }
    const producer = top.node.inputs[index]!.producer;
    if (producer !== undefined && !visited.has(producer)) {
      visited.add(producer);
      stack.push(frame(producer));
    }
  }
  return order.reverse();
}
