import type { GraphNode } from '../modules/leaf-module.js';
import type { RecordedGraph } from '../graph/recorded-graph.js';
import { LossModule } from '../losses/loss-module.js';
import type { LeafModule } from '../modules/leaf-module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Extension, ExtensionPass, Quantity } from './extension.js';
import { UnsupportedModuleError, type RuleRegistry } from './rule-registry.js';

/** How a second-order extension treats one module type. */
export interface BackpropRule<Q> {
  /**
   * The module's quantities for its own parameters (by local name), from the
   * quantity at its output. `graph` is the pass's recorded graph (e.g. for
   * `graph.parameterUses`, to treat shared parameters).
   */
  parameters?(node: GraphNode, backproped: Q, gradOutput: Tensor, graph: RecordedGraph): ReadonlyMap<string, Quantity>;
  /** The quantity at input `inputIndex`, from the quantity at the output. */
  backpropagate(node: GraphNode, backproped: Q, gradOutput: Tensor, inputIndex: number): Q;
}

/**
 * Base of BackPACK's "second-order" extensions: they start a quantity `Q` at
 * the loss (e.g. a square root of its Hessian), backpropagate it through
 * every module, summing where a tensor feeds several modules, and read each
 * parameter's result off the quantity at its module's output.
 */
export abstract class BackpropExtension<Q> implements Extension {
  abstract readonly name: string;
  abstract readonly savefield: string;
  /** Rules by module class (built-in and third-party register alike). */
  abstract readonly rules: RuleRegistry<BackpropRule<Q>>;

  /** The quantity at the loss's prediction, where the backward walk starts. */
  protected abstract atLoss(node: GraphNode, loss: LossModule): Q;

  /** Combines the quantities two consumers send to one tensor. */
  protected abstract accumulate(a: Q, b: Q): Q;

  /**
   * A rule for modules without a registered one, or undefined. Override to
   * give, for example, every parameter-free module a generic rule.
   */
  protected fallbackRule(_module: LeafModule): BackpropRule<Q> | undefined {
    return undefined;
  }

  /** The rule for a module, or an error naming this extension and the module. */
  protected ruleFor(module: LeafModule): BackpropRule<Q> {
    const rule = this.rules.find(module) ?? this.fallbackRule(module);
    if (rule === undefined) throw new UnsupportedModuleError(this.name, module);
    return rule;
  }

  check(node: GraphNode, graph: RecordedGraph): void {
    if (node === graph.root) {
      if (!(node.module instanceof LossModule)) {
        throw new Error(
          `${this.name} needs the backward pass to start at a loss module (CrossEntropyLoss, MSELoss, BCEWithLogitsLoss, ...), but it starts at ${node.module.describe()}`,
        );
      }
      return;
    }
    this.ruleFor(node.module);
  }

  begin(graph: RecordedGraph): ExtensionPass {
    const quantities = new Map<Tensor, Q>();
    const send = (target: Tensor, quantity: Q) => {
      if (!graph.needsGradient(target)) return; // data, or only parameter-free modules upstream
      const previous = quantities.get(target);
      quantities.set(target, previous === undefined ? quantity : this.accumulate(previous, quantity));
    };
    return {
      visit: (node, gradOutput) => {
        if (node === graph.root) {
          send(node.input, this.atLoss(node, node.module as LossModule));
          return undefined;
        }
        const backproped = quantities.get(node.output);
        quantities.delete(node.output);
        if (backproped === undefined) return undefined;
        const rule = this.ruleFor(node.module);
        for (const i of node.module.differentiableInputs(node)) {
          if (graph.needsGradient(node.inputs[i]!)) send(node.inputs[i]!, rule.backpropagate(node, backproped, gradOutput, i));
        }
        return rule.parameters?.(node, backproped, gradOutput, graph);
      },
    };
  }
}
