import {
  RuleRegistry,
  UnsupportedModuleError,
  add,
  type Extension,
  type ExtensionPass,
  type GraphNode,
  type Parameter,
  type Quantity,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import { batchGradRules } from './batch-grad-rules.js';

/**
 * A first-order rule: the module's quantity for its parameter `name`, from the
 * recorded call and the gradient of the loss w.r.t. the module's output.
 */
export type FirstOrderRule = (node: GraphNode, gradOutput: Tensor, name: string) => Tensor;

/**
 * Base of the first-order extensions. Each is defined by what it computes
 * from the per-sample gradients (`fromBatchGrad`), and may register faster
 * rules that skip materialising them (e.g. SumGradSquared of a Linear layer).
 *
 * A parameter used by several modules (weight sharing) gets the statistic of
 * its total per-sample gradient: the per-sample gradients of every use are
 * summed first, then `fromBatchGrad` is applied, so the result stays exact.
 */
export abstract class FirstOrderExtension implements Extension {
  abstract readonly name: string;
  abstract readonly savefield: string;
  /** Fast rules by module class; other modules fall back to `fromBatchGrad` of BatchGrad's rules. */
  abstract readonly rules: RuleRegistry<FirstOrderRule>;

  /** The quantity from the per-sample gradients `[N, ...param]` (with the loss's reduction factor). */
  protected abstract fromBatchGrad(gradBatch: Tensor): Tensor;

  /**
   * Refuses, before anything is modified, a module without a rule and any
   * node whose module mixes samples (BatchNorm in training mode): per-sample
   * gradients, and so every first-order quantity, are undefined there, for
   * the module's own parameters and for every parameter before it.
   */
  check(node: GraphNode): void {
    const reason = node.module.sampleMixingMessage(node);
    if (reason !== undefined) throw new Error(`${this.name} cannot run: ${reason}`);
    if (node.module.ownNamedParameters().length === 0) return;
    if (this.rules.find(node.module) === undefined && batchGradRules.find(node.module) === undefined) {
      throw new UnsupportedModuleError(this.name, node.module);
    }
  }

  begin(graph: RecordedGraph): ExtensionPass {
    const viaBatchGrad = new Set<Parameter>();
    return {
      visit: (node, gradOutput) => {
        const fastRule = this.rules.find(node.module);
        const results = new Map<string, Quantity>();
        for (const [name, parameter] of node.module.ownNamedParameters()) {
          if (fastRule !== undefined && graph.parameterUses.get(parameter) === 1) {
            results.set(name, fastRule(node, gradOutput, name));
          } else {
            viaBatchGrad.add(parameter);
            results.set(name, batchGradRules.get(node.module)(node, gradOutput, name));
          }
        }
        return results;
      },
      finalize: (parameter, contributions) => {
        const tensors = contributions as readonly Tensor[];
        if (!viaBatchGrad.has(parameter)) return tensors[0]!;
        return this.fromBatchGrad(tensors.reduce((total, g) => add(total, g)));
      },
    };
  }
}
