import {
  BackpropExtension,
  type GraphNode,
  type LeafModule,
  type LossModule,
  type RecordedGraph,
  type RuleRegistry,
} from '@backpack-ts/core';
import { batchDiagHessianRules, diagHessianRules, parameterFreeRule, type HessianRule } from './rules.js';
import { lossFactor, mergeFactors, type SqrtFactors } from './sqrt-factors.js';

/**
 * The mechanism shared by {@link DiagHessian} and {@link BatchDiagHessian}:
 * backpropagates the loss Hessian as signed square-root factors (see
 * `sqrt-factors.ts`), adding every curved module's residual on the way, and
 * reads the exact Hessian diagonal of each parameter off the factors at its
 * module's output. The two differ only in whether the parameter rules sum
 * over the batch.
 *
 * Parameter-free modules are handled by a generic rule (their `jacTMatProd`
 * and `residualHessianDiagonal`); a module with parameters needs a registered
 * rule, or the pass is refused with core's `UnsupportedModuleError` before
 * anything is computed.
 */
export abstract class HessianDiagonalExtension extends BackpropExtension<SqrtFactors> {
  abstract override readonly rules: RuleRegistry<HessianRule>;

  protected atLoss(node: GraphNode, loss: LossModule): SqrtFactors {
    return [lossFactor(node, loss)];
  }

  protected accumulate(a: SqrtFactors, b: SqrtFactors): SqrtFactors {
    return mergeFactors(a, b);
  }

  protected override fallbackRule(module: LeafModule): HessianRule | undefined {
    return module.ownNamedParameters().length === 0 ? parameterFreeRule : undefined;
  }

  /**
   * Also refuses modules that mix samples, and shared parameters: the
   * Hessian diagonal of a parameter used by several modules contains cross
   * terms between the uses (the sum over the uses, which BackPACK returns, is
   * not the Hessian diagonal).
   */
  override check(node: GraphNode, graph: RecordedGraph): void {
    // A module that mixes samples (BatchNorm in training mode) breaks the
    // per-sample factors `[V, N, ...]`: refuse before anything is modified.
    const reason = node.module.sampleMixingMessage(node);
    if (reason !== undefined) throw new Error(`${this.name} cannot run: ${reason}`);
    super.check(node, graph);
    for (const [name, parameter] of node.module.ownNamedParameters()) {
      const uses = graph.parameterUses.get(parameter) ?? 0;
      if (uses > 1) {
        throw new Error(
          `${this.name}: parameter '${name}' of ${node.module.describe()} is used by ${uses} modules in this forward pass (weight sharing); ` +
            `its Hessian diagonal would need the cross terms between the uses, which ${this.name} does not compute`,
        );
      }
    }
  }
}

/**
 * The diagonal of the Hessian of the loss w.r.t. each parameter, stored as
 * `param.diagH` with the parameter's shape. Exact (no GGN approximation):
 * the residual terms of curved activations (Sigmoid, Tanh, ELU, SELU,
 * LogSigmoid, ...) are included.
 */
export class DiagHessian extends HessianDiagonalExtension {
  readonly name = 'DiagHessian';
  readonly savefield = 'diagH';
  readonly rules = diagHessianRules;
}

/**
 * The per-sample Hessian diagonals, stored as `param.diagHBatch` with shape
 * `[N, ...param]`: entry n is the diagonal of the Hessian of sample n's term
 * of the loss (with the loss's 1/N for `mean`), so they sum to `diagH`.
 */
export class BatchDiagHessian extends HessianDiagonalExtension {
  readonly name = 'BatchDiagHessian';
  readonly savefield = 'diagHBatch';
  readonly rules = batchDiagHessianRules;
}
