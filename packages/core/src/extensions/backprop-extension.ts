import type { GraphNode } from '../modules/leaf-module.js';
import { describeNode } from '../modules/call-site.js';
import type { Node, RecordedGraph } from '../graph/recorded-graph.js';
import { LossModule } from '../losses/loss-module.js';
import type { OpNode } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ExtensionPass, Quantity } from './extension.js';
import { RuleBasedExtension, type ModuleRules } from './rule-registry.js';
import { checkSubsamplingFits, restrictCall } from './subsampling.js';

/** What a rule of a second-order extension gets besides the node and the quantity at its output. */
export interface BackpropContext<E> {
  /** The extension running the rule (its strategy, e.g. how Kronecker factors are made). */
  readonly extension: E;
  /** The gradient of the loss w.r.t. the node's output. */
  readonly gradOutput: Tensor;
  /** The pass's recorded graph (e.g. `graph.parameterUses`, to treat shared parameters). */
  readonly graph: RecordedGraph;
}

/** How a second-order extension `E` treats one module class. */
export interface BackpropRule<Q, E> {
  /** The module's quantities for its own parameters (by local name), from the quantity at its output. */
  parameters?(node: GraphNode, backproped: Q, context: BackpropContext<E>): ReadonlyMap<string, Quantity>;
  /** The quantity at input `inputIndex`, from the quantity at the output. */
  backpropagate(node: GraphNode, backproped: Q, inputIndex: number, context: BackpropContext<E>): Q;
}

/**
 * Base of BackPACK's "second-order" extensions: they start a quantity `Q` at
 * the loss (e.g. a square root of its Hessian), backpropagate it through
 * every module with the module's rule and through the ops between modules
 * with {@link backpropagateThroughOp}, summing where a tensor feeds several
 * nodes, and read each parameter's result off the quantity at its module's
 * output.
 *
 * `E` is the extension class itself (its rules receive it in their context);
 * `Rule` the type of its rules. Quantities are carried per sample, so a
 * module that mixes samples (`sampleMixingMessage`) is refused in `check`
 * (and an op that does, by the engine).
 */
export abstract class BackpropExtension<
  Q,
  E extends BackpropExtension<Q, E, Rule>,
  Rule extends BackpropRule<Q, E> = BackpropRule<Q, E>,
> extends RuleBasedExtension<Rule> {
  /**
   * @param subsampling BackPACK's `subsampling`: the samples the quantities
   * are computed for (each recorded call restricted to them with
   * `restrictToSamples`), or undefined for the whole batch.
   */
  protected constructor(
    defaults: ModuleRules<Rule>,
    readonly subsampling?: readonly number[],
  ) {
    super(defaults);
  }

  /**
   * The quantity at the loss's prediction, where the backward walk starts.
   * With `subsampling`, `node` is the loss's call restricted to those
   * samples and `batchSize` the size of the whole batch (a `mean` loss
   * divides by it).
   */
  protected abstract atLoss(node: GraphNode, loss: LossModule, batchSize: number): Q;

  /** Combines the quantities two consumers send to one tensor. */
  protected abstract accumulate(a: Q, b: Q): Q;

  /** The quantities of the module's parameters; by default the rule's `parameters`. */
  protected parameterQuantities(
    rule: Rule,
    node: GraphNode,
    backproped: Q,
    context: BackpropContext<E>,
  ): ReadonlyMap<string, Quantity> | undefined {
    return rule.parameters?.(node, backproped, context);
  }

  /**
   * Why this extension cannot pass the op call `node` (between modules), or
   * undefined when it can. Default: it cannot; extensions whose quantity
   * passes an op's vector-Jacobian product override this together with
   * {@link backpropagateThroughOp}.
   */
  protected opRefusal(node: OpNode, _graph: RecordedGraph): string | undefined {
    return `it backpropagates through modules with derivative rules only, and ${describeNode(node)} is an op`;
  }

  /**
   * The quantity at each input of the op call `node` (`undefined` for one
   * that gets none), from the quantity at its output: typically the op's own
   * vector-Jacobian product over the quantity's leading dimension. Called
   * only for ops {@link opRefusal} accepts.
   */
  protected backpropagateThroughOp(node: OpNode, _backproped: Q, _context: BackpropContext<E>): readonly (Q | undefined)[] {
    throw new Error(`${this.name} cannot pass ${describeNode(node)}`);
  }

  /** Refuses a pass that does not start at a loss module, a module that mixes samples, and a module without a rule. */
  check(node: GraphNode, graph: RecordedGraph): void {
    if (node === graph.root) {
      if (!(node.module instanceof LossModule)) throw this.notFromALoss(describeNode(node));
      node.module.requireReduced(this.name);
      checkSubsamplingFits(this.name, this.subsampling, node);
      return;
    }
    const mixing = node.module.sampleMixingMessage(node);
    if (mixing !== undefined) throw new Error(`${this.name} cannot run: ${mixing}`);
    this.requireRule(node.module);
  }

  /** Refuses a pass that starts at an op (a loss written with ops), and an op this extension cannot pass ({@link opRefusal}). */
  checkOp(node: OpNode, graph: RecordedGraph): void {
    if (node === graph.root) throw this.notFromALoss(describeNode(node));
    if (this.subsampling !== undefined) {
      // Quantities restricted to some samples no longer have the shape an op's rule takes.
      throw new Error(`${this.name} cannot run: with subsampling it passes modules only, and ${describeNode(node)} is an op between modules`);
    }
    const refusal = this.opRefusal(node, graph);
    if (refusal !== undefined) throw new Error(`${this.name} cannot run: ${refusal}`);
  }

  /** The walk starts at the loss's Hessian (square root), which only a loss module knows. */
  private notFromALoss(start: string): Error {
    return new Error(
      `${this.name} needs the backward pass to start at a loss module (CrossEntropyLoss, MSELoss, BCEWithLogitsLoss, ..., ` +
        `or the functional crossEntropy, mseLoss, bceWithLogits), whose Hessian it starts from, but it starts at ${start}`,
    );
  }

  begin(graph: RecordedGraph): ExtensionPass {
    // Keyed by the node that produced the tensor: ops record no output.
    const quantities = new Map<Node, Q>();
    const send = (target: Tensor, quantity: Q | undefined) => {
      if (quantity === undefined || target.gradFn === undefined || !graph.needsGradient(target)) return; // data, or a leaf
      const node = target.gradFn as Node;
      const previous = quantities.get(node);
      quantities.set(node, previous === undefined ? quantity : this.accumulate(previous, quantity));
    };
    const take = (node: Node) => {
      const quantity = quantities.get(node);
      quantities.delete(node);
      return quantity;
    };
    // By the class's declaration (`E extends BackpropExtension<Q, E, Rule>`), this is an E.
    const extension = this as unknown as E;
    return {
      visit: (node, gradOutput) => {
        if (node === graph.root) {
          const loss = node.module as LossModule;
          const call = this.subsampling === undefined ? node : loss.restrictToSamples(node, this.subsampling);
          send(node.input, this.atLoss(call, loss, node.batchSize));
          return undefined;
        }
        const backproped = take(node);
        if (backproped === undefined) return undefined;
        const rule = this.requireRule(node.module);
        // Rules see the call restricted to the subsampled samples; quantities stay keyed by the recorded tensors.
        const call = restrictCall(node, gradOutput, this.subsampling);
        const context: BackpropContext<E> = { extension, gradOutput: call.gradOutput, graph };
        for (const i of node.module.differentiableInputs(node)) {
          if (graph.needsGradient(node.inputs[i]!)) send(node.inputs[i]!, rule.backpropagate(call.node, backproped, i, context));
        }
        // A module whose parameters are all frozen still passes the quantity on, but computes nothing for them.
        return node.module.ownTrainableParameters().length === 0 ? undefined : this.parameterQuantities(rule, call.node, backproped, context);
      },
      visitOp: (node, gradOutput) => {
        const backproped = take(node);
        if (backproped === undefined) return;
        const results = this.backpropagateThroughOp(node, backproped, { extension, gradOutput, graph });
        node.inputs.forEach((input, i) => send(input, results[i]));
      },
    };
  }
}
