import { enableGrad, noGrad } from '../tensor/autograd.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../ops/elementwise.js';
import { fullLike } from '../ops/create.js';
import { reshape } from '../ops/layout.js';
import { describeNode } from '../modules/call-site.js';
import type { GraphNode } from '../modules/leaf-module.js';
import type { Parameter } from '../modules/parameter.js';
import type { Edge, Node, RecordedGraph } from './recorded-graph.js';

/** What a backward walk tells its caller while it runs. */
export interface WalkListener {
  /** Before `node` passes gradients on, with the gradient w.r.t. its output. */
  beforeNode?(node: Node, gradOutput: Tensor): void;
  /**
   * The gradient of a wanted tensor is complete: every consumer has
   * contributed. `parameter` is the parameter whose data the tensor is.
   */
  gradient?(tensor: Tensor, gradient: Tensor, parameter: Parameter | undefined): void;
  /** After `node` passed gradients on and the gradients it completed were reported. */
  afterNode?(node: Node): void;
}

/**
 * The one backward walk, behind `backward()` and `grad()`: starting from
 * `seeds` (the gradients w.r.t. the graph's roots; `undefined` means 1),
 * visits the nodes consumers-first, applies each node's vector-Jacobian
 * product (an op's rule, a module's `jacTMatProd` and `paramJacTMatProd`),
 * sums the gradients of tensors used several times, and reports each wanted
 * tensor's gradient once complete.
 *
 * With `createGraph` the products run with recording on, so the gradients
 * are functions of the recorded graph and can be differentiated again;
 * otherwise under `noGrad`.
 */
export function backpropagate(
  graph: RecordedGraph,
  seeds: readonly (Tensor | undefined)[],
  createGraph: boolean,
  listener: WalkListener,
): void {
  (createGraph ? enableGrad : noGrad)(() => walk(graph, seeds, listener));
}

function walk(graph: RecordedGraph, seeds: readonly (Tensor | undefined)[], listener: WalkListener): void {
  const atNodes = new Map<Node, Tensor>();
  const leaves = leafCounts(graph);
  const accumulate = (tensor: Tensor, gradient: Tensor | undefined) => {
    const leaf = leaves.get(tensor);
    if (leaf === undefined) {
      const node = tensor.gradFn as Node | undefined; // a leaf here is a root nobody asked about
      if (node !== undefined && gradient !== undefined) atNodes.set(node, sum(atNodes.get(node), gradient));
      return;
    }
    if (gradient !== undefined) leaf.total = sum(leaf.total, gradient);
    leaf.remaining -= 1;
    if (leaf.remaining === 0 && leaf.total !== undefined) listener.gradient?.(tensor, leaf.total, leaf.parameter);
  };
  graph.roots.forEach((root, i) => accumulate(root, seeds[i] ?? fullLike(root, 1)));

  for (const node of graph.steps) {
    const gradOutput = atNodes.get(node);
    atNodes.delete(node);
    if (gradOutput === undefined) continue; // every path to it carried a zero (undefined) gradient
    const output = graph.outputOf(node);
    if (graph.isTarget(output)) listener.gradient?.(output, gradOutput, undefined);
    if (!graph.propagates(node)) continue;
    listener.beforeNode?.(node, gradOutput);
    const edges = graph.edgesOf(node);
    const gradients = node.kind === 'op' ? opVjp(node, gradOutput, edges) : edges.map((edge) => moduleVjp(node, gradOutput, edge));
    edges.forEach((edge, i) => accumulate(edge.tensor, gradients[i]));
    listener.afterNode?.(node);
  }
}

/** Wanted leaves (and roots that are wanted leaves): how many contributions each awaits, and what they sum to so far. */
interface LeafState {
  remaining: number;
  total: Tensor | undefined;
  readonly parameter: Parameter | undefined;
}

function leafCounts(graph: RecordedGraph): Map<Tensor, LeafState> {
  const leaves = new Map<Tensor, LeafState>([...graph.leaves].map(([tensor, parameter]) => [tensor, { remaining: 0, total: undefined, parameter }]));
  // A wanted non-leaf is not counted: it is reported when its node is visited.
  const count = (tensor: Tensor) => {
    const state = leaves.get(tensor);
    if (state !== undefined) state.remaining += 1;
  };
  for (const root of graph.roots) count(root);
  for (const node of graph.steps) for (const edge of graph.edgesOf(node)) count(edge.tensor);
  return leaves;
}

function sum(total: Tensor | undefined, gradient: Tensor): Tensor {
  return total === undefined ? gradient : add(total, gradient);
}

function opVjp(node: Node & { kind: 'op' }, gradOutput: Tensor, edges: readonly Edge[]): (Tensor | undefined)[] {
  const all = node.derivatives.vjp(gradOutput);
  return edges.map((edge) => checked(node, edge, all[edge.input!]));
}

/** A module call's product for one edge; derivatives take and give matrices with a leading vector dimension of 1. */
function moduleVjp(node: GraphNode, gradOutput: Tensor, edge: Edge): Tensor {
  const mat = reshape(gradOutput, [1, ...gradOutput.shape]);
  const product =
    edge.parameter === undefined
      ? node.module.jacTMatProd(node, mat, edge.input!)
      : node.module.paramJacTMatProd(node, edge.parameter[0], mat, { sumBatch: true });
  const gradient = reshape(product, product.shape.slice(1));
  checked(node, edge, gradient);
  return gradient;
}

/** A derivative of the wrong shape would corrupt every gradient behind it: refused, naming the rule's node. */
function checked(node: Node, edge: Edge, gradient: Tensor | undefined): Tensor | undefined {
  if (gradient !== undefined && !shapesEqual(gradient.shape, edge.tensor.shape)) {
    const what = edge.parameter === undefined ? `input ${edge.input}` : `parameter '${edge.parameter[0]}'`;
    throw new Error(
      `backward(): the derivative of ${describeNode(node)} w.r.t. its ${what} has shape ${formatShape(gradient.shape)}, ` +
        `but that tensor has shape ${formatShape(edge.tensor.shape)}`,
    );
  }
  return gradient;
}
