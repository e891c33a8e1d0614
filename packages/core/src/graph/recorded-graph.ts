import { enableGrad, isOpNode, type OpNode } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import { formatShape } from '../tensor/shape.js';
import { fullLike } from '../ops/create.js';
import type { AutogradNode, Tensor } from '../tensor/tensor.js';
import type { GraphNode } from '../modules/leaf-module.js';
import { parameterOf, type Parameter } from '../modules/parameter.js';
import { describeNode, describeParameter } from '../modules/call-site.js';

/** A recorded node: an op call (the ground level) or a module call (one node for the whole module). */
export type Node = OpNode | GraphNode;

/** A tensor a node was computed from that gradients flow into. */
export interface Edge {
  /** The tensor the gradient goes to. */
  readonly tensor: Tensor;
  /** Its index among the node's inputs; absent for a module's parameter. */
  readonly input?: number;
  /** For a module's parameter: its local name and the parameter. */
  readonly parameter?: readonly [string, Parameter];
}

/** How a graph is cut. */
export interface GraphOptions {
  /** Who asks, for messages (default `'backward()'`). */
  readonly caller?: string;
  /**
   * The tensors whose gradients are wanted (`grad()`'s inputs, leaves or
   * not); default: every leaf that requires gradients (`backward()`).
   */
  readonly targets?: readonly Tensor[];
}

/** The node that recorded `tensor`, as one of the two kinds. */
function nodeOf(tensor: Tensor): Node | undefined {
  const node = tensor.gradFn;
  if (node === undefined || isOpNode(node)) return node;
  if ((node as Partial<GraphNode>).kind === 'module') return node as GraphNode;
  throw new Error(`the tensor of shape ${formatShape(tensor.shape)} has a gradFn of unknown kind; record nodes with recordOp or a LeafModule`);
}

/** The tensors gradients flow into from `node`: inputs that require gradients, and a module's differentiable parameters. */
function edgesOf(node: Node): Edge[] {
  if (node.kind === 'op') {
    return node.inputs.flatMap((tensor, input) => (tensor.requiresGrad ? [{ tensor, input }] : []));
  }
  const inputs = node.module
    .differentiableInputs(node)
    .flatMap((input) => (node.inputs[input]!.requiresGrad ? [{ tensor: node.inputs[input]!, input }] : []));
  return [...inputs, ...node.module.ownTrainableParameters().map((parameter) => ({ tensor: parameter[1].data, parameter }))];
}

/**
 * The part of the recorded graph a backward pass walks, in its order: every
 * node (op or module) comes after all nodes that consume its output. Built
 * from the roots (the loss, or `grad()`'s outputs) back to the tensors whose
 * gradients are wanted; a node none of them is upstream of is left out (a
 * target computed by another model, a leading Flatten on data).
 */
export class RecordedGraph {
  /** The tensors the pass starts from. */
  readonly roots: readonly Tensor[];
  /** Every node the pass visits, ops and modules, consumers before producers. */
  readonly steps: readonly Node[];
  /** The module calls among {@link steps}, in the same order: what extensions see. */
  readonly nodes: readonly GraphNode[];
  /** For each parameter, how many module calls in the pass differentiate it (more than one means weight sharing). */
  readonly parameterUses: ReadonlyMap<Parameter, number>;

  /**
   * The wanted leaves the pass reaches (roots included), each with the
   * parameter whose data it is: the tensors whose gradients it stores.
   */
  readonly leaves: ReadonlyMap<Tensor, Parameter | undefined>;

  private readonly edges = new Map<Node, readonly Edge[]>();
  private readonly visited: ReadonlySet<Node>;
  private readonly outputs = new Map<Node, Tensor>();
  private readonly computesInputGradients = new Set<Node>();
  private readonly targets: ReadonlySet<Tensor> | undefined;
  private readonly piecewiseLinear = new Map<OpNode, boolean>();

  constructor(roots: Tensor | readonly Tensor[], options: GraphOptions = {}) {
    const caller = options.caller ?? 'backward()';
    this.roots = Array.isArray(roots) ? roots : [roots as Tensor];
    this.targets = options.targets === undefined ? undefined : new Set(options.targets);
    for (const root of this.roots) {
      if (!root.requiresGrad) {
        throw new Error(
          `${caller}: the tensor of shape ${formatShape(root.shape)} does not require gradients: nothing it was computed from does ` +
            '(parameters do unless frozen with requiresGrad = false; other tensors opt in with requiresGrad_()), or it was computed under noGrad()',
        );
      }
    }
    const discovered = this.discover();
    // Producers first: a node computes input gradients when a wanted tensor is upstream of it.
    for (let k = discovered.length - 1; k >= 0; k--) {
      const node = discovered[k]!;
      const edges = this.edges.get(node)!;
      const wanted = edges.filter((edge) => this.needsGradient(edge.tensor));
      if (wanted.length < edges.length) this.edges.set(node, wanted);
      if (wanted.length > 0) this.computesInputGradients.add(node);
    }
    this.steps = discovered.filter((node) => this.computesInputGradients.has(node) || this.isTarget(this.outputs.get(node)!));
    if (this.steps.length === 0 && !this.roots.some((root) => this.isTarget(root))) {
      const root = nodeOf(this.roots[0]!)!;
      throw new Error(
        `${caller}: no tensor that requires gradients is reached from ${describeNode(root)} through differentiable inputs ` +
          '(a loss differentiates its prediction, not its target)',
      );
    }
    this.visited = new Set(this.steps);
    this.nodes = this.steps.filter((node): node is GraphNode => node.kind === 'module');
    const leaves = new Map<Tensor, Parameter | undefined>();
    const addLeaf = (tensor: Tensor, parameter: Parameter | undefined) => {
      if (tensor.gradFn === undefined && this.isTarget(tensor)) leaves.set(tensor, parameter ?? leaves.get(tensor) ?? parameterOf(tensor));
    };
    for (const root of this.roots) addLeaf(root, undefined);
    for (const node of this.steps) for (const edge of this.edgesOf(node)) addLeaf(edge.tensor, edge.parameter?.[1]);
    this.leaves = leaves;
    const uses = new Map<Parameter, number>();
    for (const node of this.nodes) {
      for (const [, parameter] of node.module.ownTrainableParameters()) uses.set(parameter, (uses.get(parameter) ?? 0) + 1);
    }
    this.parameterUses = uses;
  }

  /** The loss: the first root. */
  get loss(): Tensor {
    return this.roots[0]!;
  }

  /** The node that recorded the loss (a loss module's call, or the last op of a functional loss). */
  get root(): Node | undefined {
    return nodeOf(this.loss);
  }

  /** Whether the pass computes a gradient for `tensor`: a wanted tensor, or one with a wanted tensor upstream. */
  needsGradient(tensor: Tensor): boolean {
    if (this.isTarget(tensor)) return true;
    const node = tensor.gradFn as Node | undefined;
    return node !== undefined && this.computesInputGradients.has(node);
  }

  /** Whether `node` passes gradients on to its inputs (else the pass only reads the gradient of its output). */
  propagates(node: Node): boolean {
    return this.computesInputGradients.has(node);
  }

  /** The tensors `node` passes gradients on to (the ones that need them). */
  edgesOf(node: Node): readonly Edge[] {
    return this.edges.get(node) ?? [];
  }

  /** The tensor `node` produced. */
  outputOf(node: Node): Tensor {
    return this.outputs.get(node)!;
  }

  /**
   * A wanted leaf for messages: a parameter by a module call that uses it
   * (`parameter 'weight' of Linear 'head'`), else by its name in the model
   * whose forward used it, else by its shape.
   */
  describeLeaf(leaf: Tensor): string {
    const parameter = this.leaves.get(leaf);
    if (parameter === undefined) return `the tensor of shape ${formatShape(leaf.shape)}`;
    for (const node of this.nodes) {
      const use = node.module.ownTrainableParameters().find(([, p]) => p === parameter);
      if (use !== undefined) return `parameter '${use[0]}' of ${describeNode(node)}`;
    }
    const op = this.steps.find((node): node is OpNode => node.kind === 'op' && node.inputs.includes(leaf));
    return describeParameter(parameter, op?.calledIn);
  }

  /** Whether the pass computes anything for `tensor`: a root, a tensor some visited node passes a gradient to, or the output of a visited node. */
  reaches(tensor: Tensor): boolean {
    if (tensor.gradFn === undefined) return this.leaves.has(tensor);
    return this.roots.includes(tensor) || this.visited.has(tensor.gradFn as Node);
  }

  /** Whether the gradient of `tensor` is wanted (a result of the pass rather than a way to one). */
  isTarget(tensor: Tensor): boolean {
    return this.targets === undefined ? tensor.gradFn === undefined && tensor.requiresGrad : this.targets.has(tensor);
  }

  /**
   * The nodes reachable from the roots, consumers before producers:
   * depth-first post-order from the roots, reversed. Iterative, so deep
   * models cannot overflow the stack.
   */
  private discover(): Node[] {
    const order: Node[] = [];
    const frame = (node: Node) => {
      const edges = edgesOf(node);
      this.edges.set(node, edges);
      return { node, edges, next: 0 };
    };
    const stack: ReturnType<typeof frame>[] = [];
    const visit = (tensor: Tensor) => {
      const node = nodeOf(tensor);
      if (node === undefined || this.edges.has(node)) return;
      this.outputs.set(node, tensor);
      stack.push(frame(node));
    };
    for (const root of this.roots) {
      visit(root);
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const edge = top.edges[top.next++];
        if (edge === undefined) {
          order.push(top.node);
          stack.pop();
        } else {
          visit(edge.tensor);
        }
      }
    }
    return order.reverse();
  }

  /**
   * Whether the second derivative of the op call vanishes (almost
   * everywhere), read off its recorded rule: its VJP, run with recording on,
   * gives results that require no gradient, so it depends on the cotangent
   * alone. True for linear ops (add, reshape, sum, a product with a
   * constant) and piecewise linear ones (relu, max pooling), whose rules
   * multiply by piecewise-constant factors that record nothing; false for
   * curved ones (tanh, exp, a product of two tensors that require
   * gradients). Hessian-based extensions pass only such ops, since ops give
   * no second derivatives.
   */
  isPiecewiseLinear(node: OpNode): boolean {
    let linear = this.piecewiseLinear.get(node);
    if (linear === undefined) {
      const zero = () => fullLike(this.outputOf(node), 0);
      linear = tidy(() => enableGrad(() => node.derivatives.vjp(zero()).every((g) => g === undefined || !g.requiresGrad)));
      this.piecewiseLinear.set(node, linear);
    }
    return linear;
  }

  /**
   * The op nodes that form the loss from per-sample losses: from the root
   * down through ops whose output is a scalar (a sum or mean over the batch,
   * then any scalar arithmetic). Their sample mixing is the loss's, not the
   * model's.
   */
  private lossHead(): ReadonlySet<OpNode> {
    const head = new Set<OpNode>();
    const pending = this.roots.filter((root) => root.size === 1);
    for (let tensor = pending.pop(); tensor !== undefined; tensor = pending.pop()) {
      const node = tensor.gradFn as Node | undefined;
      if (node?.kind !== 'op' || head.has(node)) continue;
      head.add(node);
      for (const edge of this.edgesOf(node)) if (edge.tensor.size === 1) pending.push(edge.tensor);
    }
    return head;
  }

  /**
   * Where per-sample quantities of the parameters are undefined: ops that mix
   * the samples of the batch downstream of a module with parameters (the
   * loss's final reduction excepted), and parameters whose data reaches the
   * loss through an op rather than only through modules (their per-sample
   * and curvature quantities would miss that path). Each with a message.
   */
  perSampleProblems(): string[] {
    const head = this.lossHead();
    const downstreamOfParameters = new Set<Node>();
    const problems: string[] = [];
    for (let k = this.steps.length - 1; k >= 0; k--) {
      const node = this.steps[k]!;
      const edges = this.edgesOf(node);
      const upstream = edges.some((edge) => downstreamOfParameters.has(edge.tensor.gradFn as Node));
      if (node.kind === 'module') {
        if (upstream || node.module.ownTrainableParameters().length > 0) downstreamOfParameters.add(node);
        continue;
      }
      const direct = edges.find((edge) => this.leaves.get(edge.tensor) !== undefined);
      if (direct !== undefined) {
        problems.push(`${this.describeLeaf(direct.tensor)} enters ${describeNode(node)} directly, outside a module with derivatives`);
      }
      if (upstream || direct !== undefined) downstreamOfParameters.add(node);
      if (node.mixesSamples && upstream && !head.has(node)) {
        problems.push(`${describeNode(node)} mixes the samples of the batch between modules with parameters and the loss`);
      }
    }
    return problems;
  }
}
