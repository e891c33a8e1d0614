import {
  BackpropExtension,
  Generator,
  add,
  defaultGenerator,
  type BackpropRule,
  type ExtensionPass,
  type GraphNode,
  type LeafModule,
  type LossModule,
  type Parameter,
  type Quantity,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import { backpropagateSqrt, ggnRules, squaredSum, type GgnRule } from './ggn-rules.js';

/**
 * Which square root of the loss Hessian is backpropagated: the exact one
 * (`[C, N, ...pred]`, C = outputs per sample) or a Monte-Carlo one drawn from
 * the model's predictive distribution (`[M, N, ...pred]`).
 */
export type LossSqrt =
  | { readonly kind: 'exact' }
  | { readonly kind: 'sampled'; readonly mcSamples: number; readonly generator: Generator };

/**
 * What is stored from `P = J_θᵀ S` (`[V, N, ...param]`):
 * - `diagonal`: `Σ_v Σ_n P²`, `[...param]` (DiagGGN);
 * - `batchDiagonal`: `Σ_v P²`, `[N, ...param]` (BatchDiagGGN);
 * - `sqrt`: P itself, `[V, N, ...param]` (SqrtGGN).
 */
export type GgnReduction = 'diagonal' | 'batchDiagonal' | 'sqrt';

/** Options of the Monte-Carlo extensions. */
export interface MonteCarloOptions {
  /** Samples drawn from the model's predictive distribution per backward pass (default 1). */
  readonly mcSamples?: number;
  /** Draw from this generator (shared with whoever else uses it). */
  readonly generator?: Generator;
  /** Draw from a new generator seeded with this value. Default (neither given): core's `defaultGenerator`. */
  readonly seed?: number;
}

/** The sampled loss square root described by `options`, validated. */
export function sampledLossSqrt(extensionName: string, options: MonteCarloOptions): LossSqrt {
  const mcSamples = options.mcSamples ?? 1;
  if (!Number.isInteger(mcSamples) || mcSamples < 1) {
    throw new RangeError(`${extensionName}: mcSamples must be a positive integer, got ${mcSamples}`);
  }
  if (options.generator !== undefined && options.seed !== undefined) {
    throw new TypeError(`${extensionName}: pass either a generator or a seed, not both`);
  }
  if (options.seed !== undefined && !Number.isInteger(options.seed)) {
    throw new RangeError(`${extensionName}: seed must be an integer, got ${options.seed}`);
  }
  const generator = options.generator ?? (options.seed !== undefined ? new Generator(options.seed) : defaultGenerator);
  return { kind: 'sampled', mcSamples, generator };
}

/** Backpropagates S through modules without parameters: their input Jacobian is all there is. */
const parameterFreeRule: GgnRule = Object.freeze({ backpropagate: backpropagateSqrt });

/** Whether several modules use `parameter` in this pass (weight sharing). */
function isShared(graph: RecordedGraph, parameter: Parameter): boolean {
  return (graph.parameterUses.get(parameter) ?? 1) > 1;
}

/**
 * The one mechanism behind DiagGGNExact/MC, BatchDiagGGNExact/MC and
 * SqrtGGNExact/MC: start at the loss with a square root S of its Hessian
 * (exact or sampled), backpropagate it through every module with the
 * module's `jacTMatProd` (summed where a tensor feeds several modules), and
 * at each parameter reduce `P = J_θᵀ S` as `reduction` says.
 *
 * Module rules come from the shared {@link ggnRules} registry; modules
 * without parameters need none. A module with parameters and no rule is
 * refused (core's `UnsupportedModuleError`) before anything is computed.
 *
 * A parameter used by several modules (weight sharing) gets the quantity of
 * its total Jacobian: the P of every use are summed first and then reduced
 * (the squares of a sum are not the sum of the squares).
 */
export abstract class GgnExtension extends BackpropExtension<Tensor> {
  /** The shared rules of the GGN extensions: registering here enables all six. */
  readonly rules = ggnRules;
  private readonly adapters = new WeakMap<GgnRule, BackpropRule<Tensor>>();

  protected constructor(
    /** Exact or sampled loss square root. */
    readonly lossSqrt: LossSqrt,
    /** What is stored from P. */
    readonly reduction: GgnReduction,
  ) {
    super();
  }

  protected atLoss(node: GraphNode, loss: LossModule): Tensor {
    if (this.lossSqrt.kind === 'exact') return loss.sqrtHessian(node);
    return loss.sqrtHessianSampled(node, this.lossSqrt.mcSamples, this.lossSqrt.generator);
  }

  protected accumulate(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }

  /**
   * Also refuses, before anything is modified, a module that mixes samples
   * (BatchNorm in training mode): the square root S is kept per sample
   * (`[V, N, ...]`, column (v, n) non-zero on sample n only), and such a
   * module's Jacobian would spread every column over the whole batch.
   * Per-sample results (BatchDiagGGN, SqrtGGN) are undefined there; the
   * batch-summed diagonal is defined but not computed.
   */
  override check(node: GraphNode, graph: RecordedGraph): void {
    const reason = node.module.sampleMixingMessage(node);
    if (reason !== undefined) throw new Error(`${this.name} cannot run: ${reason}`);
    super.check(node, graph);
  }

  protected override fallbackRule(module: LeafModule): GgnRule | undefined {
    return module.ownNamedParameters().length === 0 ? parameterFreeRule : undefined;
  }

  /** The module's GGN rule (registered, or the parameter-free one), as a rule of core's backprop walk. */
  protected override ruleFor(module: LeafModule): BackpropRule<Tensor> {
    const rule = super.ruleFor(module) as GgnRule;
    let adapter = this.adapters.get(rule);
    if (adapter === undefined) {
      adapter = this.adapt(rule);
      this.adapters.set(rule, adapter);
    }
    return adapter;
  }

  override begin(graph: RecordedGraph): ExtensionPass {
    const walk = super.begin(graph);
    return {
      visit: (node, gradOutput) => walk.visit(node, gradOutput),
      // A shared parameter's contributions are its P of every use: sum, then reduce.
      finalize: (parameter, contributions) => {
        const total = (contributions as readonly Tensor[]).reduce((a, b) => add(a, b));
        return isShared(graph, parameter) ? this.reduce(total) : total;
      },
    };
  }

  private adapt(rule: GgnRule): BackpropRule<Tensor> {
    return {
      backpropagate: (node, sqrt, gradOutput, inputIndex) => rule.backpropagate(node, sqrt, gradOutput, inputIndex),
      parameters: (node, sqrt, _gradOutput, graph) => {
        const results = new Map<string, Quantity>();
        for (const [name, parameter] of node.module.ownNamedParameters()) {
          results.set(name, this.parameterQuantity(rule, node, name, isShared(graph, parameter), sqrt));
        }
        return results;
      },
    };
  }

  /** This use's contribution: the reduced P, or P itself for a shared parameter (reduced in `finalize`). */
  private parameterQuantity(rule: GgnRule, node: GraphNode, name: string, shared: boolean, sqrt: Tensor): Tensor {
    const sqrtGgn = () => rule.sqrtGgn?.(node, name, sqrt) ?? node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false });
    if (this.reduction === 'sqrt' || shared) return sqrtGgn();
    const sumBatch = this.reduction === 'diagonal';
    return rule.diagGgn?.(node, name, sqrt, sumBatch) ?? squaredSum(sqrtGgn(), sumBatch);
  }

  /** The stored quantity from the summed P of a shared parameter. */
  private reduce(sqrtGgn: Tensor): Tensor {
    return this.reduction === 'sqrt' ? sqrtGgn : squaredSum(sqrtGgn, this.reduction === 'diagonal');
  }
}
