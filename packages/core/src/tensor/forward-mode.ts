import { isOpNode } from './autograd.js';
import { formatShape, shapesEqual } from './shape.js';
import type { AutogradNode, Tensor } from './tensor.js';

/**
 * Forward mode over the recorded graph (the R-op): tangents given at some
 * tensors are pushed through the recorded nodes, producers before consumers,
 * to the tangents of other tensors. Op nodes use their `jvp` rule; any other
 * node (a module call) implements {@link ForwardRule}.
 *
 * Every tangent has the shape of its tensor with the same extra leading
 * dimensions (`[V, ...shape]`, a batch of V tangents at once), as the ops'
 * `jvp` rules take them.
 */

/** How a node that is not an op's pushes tangents forward (a module call implements it). */
export interface ForwardRule extends AutogradNode {
  /** The tensors the node's output depends on differentiably (inputs, parameters' data). */
  forwardSources(): readonly Tensor[];
  /**
   * The tangent of the node's output from the tangents of its sources
   * (`tangentOf` gives `undefined` for a zero tangent; at least one is
   * given), or `undefined` if the given ones do not reach the output.
   */
  forwardTangent(tangentOf: (tensor: Tensor) => Tensor | undefined): Tensor | undefined;
  /** The node for messages. */
  describe(): string;
}

/** A node of the walk and the tensor it produced (an op node does not know its output). */
interface Step {
  readonly node: AutogradNode;
  readonly output: Tensor;
}

function sourcesOf(node: AutogradNode): readonly Tensor[] {
  return isOpNode(node) ? node.inputs : (node as ForwardRule).forwardSources();
}

/**
 * The nodes between `seeds` and `outputs` that depend on a seed, producers
 * first. The walk stops at seeds (a seed may itself be computed) and at
 * `stops`, whose history is not visited. Iterative, as recorded graphs can
 * be deep.
 */
function stepsFrom(outputs: readonly Tensor[], seeds: ReadonlyMap<Tensor, Tensor>, stops: ReadonlySet<Tensor>): Step[] {
  const depends = new Map<Tensor, boolean>();
  const steps: Step[] = [];
  const stack = [...outputs];
  while (stack.length > 0) {
    const tensor = stack[stack.length - 1]!;
    if (depends.has(tensor)) {
      stack.pop();
      continue;
    }
    const node = tensor.gradFn;
    if (seeds.has(tensor) || node === undefined || stops.has(tensor)) {
      depends.set(tensor, seeds.has(tensor));
      stack.pop();
      continue;
    }
    const sources = sourcesOf(node);
    const pending = sources.filter((source) => !depends.has(source));
    if (pending.length > 0) {
      stack.push(...pending);
      continue;
    }
    stack.pop();
    const reached = sources.some((source) => depends.get(source) === true);
    depends.set(tensor, reached);
    if (reached) steps.push({ node, output: tensor });
  }
  return steps;
}

/** Options of {@link pushTangents}. */
export interface PushOptions {
  /** Tensors taken as constants: their history is not walked. */
  readonly stops?: ReadonlySet<Tensor>;
  /** Runs on the nodes the walk visits, before any product: the caller's refusals (a freed graph, say). */
  readonly check?: (nodes: readonly AutogradNode[]) => void;
}

/**
 * The tangents of `outputs` given the tangents `seeds` (tensor to tangent,
 * each `[...lead, ...tensor.shape]` with one common `lead`), through the
 * recorded graph; `undefined` for an output that depends on no seed. The
 * products run in the current recording mode (recorded under
 * `enableGrad`, so they can be differentiated again).
 */
export function pushTangents(
  outputs: readonly Tensor[],
  seeds: ReadonlyMap<Tensor, Tensor>,
  lead: readonly number[],
  options: PushOptions = {},
): (Tensor | undefined)[] {
  const steps = stepsFrom(outputs, seeds, options.stops ?? new Set());
  options.check?.(steps.map((step) => step.node));
  const tangents = new Map(seeds);
  const tangentOf = (tensor: Tensor) => tangents.get(tensor);
  for (const { node, output } of steps) {
    const tangent = isOpNode(node) ? node.derivatives.jvp(node.inputs.map(tangentOf)) : (node as ForwardRule).forwardTangent(tangentOf);
    if (tangent === undefined) continue;
    if (!shapesEqual(tangent.shape, [...lead, ...output.shape])) {
      const name = isOpNode(node) ? `op '${node.name}'` : (node as ForwardRule).describe();
      throw new Error(
        `jvp: the tangent of the output of ${name} has shape ${formatShape(tangent.shape)}, ` +
          `expected ${formatShape([...lead, ...output.shape])} (leading ${formatShape(lead)} and the output's shape)`,
      );
    }
    tangents.set(output, tangent);
  }
  return outputs.map(tangentOf);
}
