import {
  BackpropExtension,
  Linear,
  RNNBase,
  rejectUnknownOptions,
  type NoOptions,
  describeNode,
  type GraphNode,
  type LeafModule,
  type LossModule,
  type OpNode,
  type ParameterJacobianOptions,
  type RecordedGraph,
} from '@backpack-ts/core';
import { recurrentHessianRule } from './recurrent-rules.js';
import { affineInParametersRule, linearHessianRule, parameterFreeHessianRule, type HessianRule } from './rules.js';
import { backpropFactorsThroughOp, lossFactor, mergeFactors, type SqrtFactors } from './sqrt-factors.js';

/**
 * The mechanism shared by {@link DiagHessian} and {@link BatchDiagHessian}:
 * backpropagates the loss Hessian as signed square-root factors (see
 * `sqrt-factors.ts`), adding every curved module's residual on the way
 * (ops between modules pass only when piecewise linear), and
 * reads the exact Hessian diagonal of each parameter off the factors at its
 * module's output. The two differ only in `sumBatch`, which their rules read.
 *
 * Rules: `Linear` and the recurrent layers (`RNNBase`: RNN, LSTM) have
 * default ones ({@link linearHessianRule}, {@link recurrentHessianRule}); modules
 * without parameters fall back on {@link parameterFreeHessianRule} (their
 * `jacTMatProd` and `residualHessianDiagonal`), modules with the traits
 * `perSampleParameterJacobian` and `affineInParameters` on
 * {@link affineInParametersRule}; `setModuleRule` sets others. Any other
 * module with parameters is refused with core's `UnsupportedModuleError`
 * before anything is computed.
 */
export abstract class HessianDiagonalExtension extends BackpropExtension<SqrtFactors, HessianDiagonalExtension, HessianRule> {
  /** Whether the parameter diagonals are summed over the batch (DiagHessian) or kept per sample (BatchDiagHessian). */
  readonly sumBatch: boolean;

  protected constructor({ sumBatch }: ParameterJacobianOptions) {
    super([
      [Linear, linearHessianRule],
      [RNNBase, recurrentHessianRule],
    ]);
    this.sumBatch = sumBatch;
  }

  protected atLoss(node: GraphNode, loss: LossModule): SqrtFactors {
    return [lossFactor(node, loss)];
  }

  protected accumulate(a: SqrtFactors, b: SqrtFactors): SqrtFactors {
    return mergeFactors(a, b);
  }

  protected override fallbackRule(module: LeafModule): HessianRule | undefined {
    if (module.ownNamedParameters().length === 0) return parameterFreeHessianRule;
    const { perSampleParameterJacobian, affineInParameters } = module.traits;
    return perSampleParameterJacobian === true && affineInParameters === true ? affineInParametersRule : undefined;
  }

  protected override fallbackRequirement(): string {
    return 'the traits perSampleParameterJacobian and affineInParameters';
  }

  /** An op passes when its residual Hessian term vanishes (it is piecewise linear): ops give no second derivatives. */
  protected override opRefusal(node: OpNode, graph: RecordedGraph): string | undefined {
    if (graph.isPiecewiseLinear(node)) return undefined;
    return (
      `the Hessian diagonal needs the second derivative of every node between the loss and the parameters, ` +
      `and ${describeNode(node)} is curved (ops give no second derivatives); compute it with a module there (e.g. Tanh)`
    );
  }

  protected override backpropagateThroughOp(node: OpNode, factors: SqrtFactors): readonly (SqrtFactors | undefined)[] {
    return backpropFactorsThroughOp(node, factors);
  }

  /**
   * Also refuses shared parameters: the Hessian diagonal of a parameter used
   * by several modules contains cross terms between the uses (the sum over
   * the uses, which BackPACK returns, is not the Hessian diagonal).
   */
  override check(node: GraphNode, graph: RecordedGraph): void {
    super.check(node, graph);
    for (const [name, parameter] of node.module.ownTrainableParameters()) {
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

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('DiagHessian', options, []);
    super({ sumBatch: true });
  }
}

/**
 * The per-sample Hessian diagonals, stored as `param.diagHBatch` with shape
 * `[N, ...param]`: entry n is the diagonal of the Hessian of sample n's term
 * of the loss (with the loss's 1/N for `mean`), so they sum to `diagH`.
 */
export class BatchDiagHessian extends HessianDiagonalExtension {
  readonly name = 'BatchDiagHessian';
  readonly savefield = 'diagHBatch';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('BatchDiagHessian', options, []);
    super({ sumBatch: false });
  }
}
