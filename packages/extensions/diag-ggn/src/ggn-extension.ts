import {
  BackpropExtension,
  ConvNd,
  ConvTransposeNd,
  Generator,
  Linear,
  RNNBase,
  add,
  concat,
  sampleChunks,
  selectIndices,
  sum,
  tidy,
  defaultGenerator,
  mul,
  rejectUnknownOptions,
  type BackpropContext,
  type ExtensionPass,
  type GraphNode,
  type LeafModule,
  type LossModule,
  type OpNode,
  type Parameter,
  type Quantity,
  type RecordedGraph,
  type Tensor,
  reshape,
} from '@backpack-ts/core';
import { genericGgnRule, linearGgnRule, recurrentGgnRule, squaredSum, type GgnRule } from './ggn-rules.js';

/**
 * Which square root of the loss Hessian is backpropagated: the exact one
 * (`[C, N, ...pred]`, C = outputs per sample) or a Monte-Carlo one drawn from
 * the model's predictive distribution (`[M, N, ...pred]`).
 */
export type LossSqrt =
  | {
      /** The exact square root. */
      readonly kind: 'exact';
    }
  | {
      /** A Monte-Carlo square root. */
      readonly kind: 'sampled';
      /** Number of samples M. */
      readonly mcSamples: number;
      /** Where the samples are drawn from. */
      readonly generator: Generator;
    };

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

/** The convolutions' memory mode, an option of every GGN extension (and of BatchGrad). */
export interface ConvMemoryOptions {
  /**
   * BackPACK's `weight_jac_t_save_memory`: build a convolution weight's
   * per-sample products a chunk of samples at a time (about 2²² entries
   * each), reducing each chunk before the next; slower for small batches,
   * far less memory for DiagGGN/BatchDiagGGN of large convolutions. Default
   * false. The forward pass's unfolded input is kept in both modes.
   */
  readonly convSaveMemory?: boolean;
}

/** The names of {@link MonteCarloOptions}. */
export const MONTE_CARLO_OPTIONS: readonly string[] = ['mcSamples', 'generator', 'seed'];

/**
 * The sampled loss square root described by `options`, validated (option
 * names other than the Monte-Carlo ones (`mcSamples`, `generator`, `seed`) and `otherOptions` are refused).
 */
export function sampledLossSqrt(extensionName: string, options: MonteCarloOptions, otherOptions: readonly string[] = []): LossSqrt {
  rejectUnknownOptions(extensionName, options, [...MONTE_CARLO_OPTIONS, ...otherOptions]);
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

/** Whether several modules use `parameter` in this pass (weight sharing). */
function isShared(graph: RecordedGraph, parameter: Parameter): boolean {
  return (graph.parameterUses.get(parameter) ?? 1) > 1;
}

/**
 * The one mechanism behind DiagGGNExact/MC, BatchDiagGGNExact/MC and
 * SqrtGGNExact/MC: start at the loss with a square root S of its Hessian
 * (exact or sampled), backpropagate it through every module with the
 * module's `jacTMatProd` and through the ops between modules with their
 * vector-Jacobian products (summed where a tensor feeds several nodes), and
 * at each parameter reduce `P = J_θᵀ S` as `reduction` says.
 *
 * Rules: `Linear` and `RNNBase` (RNN, LSTM) have default ones ({@link linearGgnRule},
 * {@link recurrentGgnRule}); modules without
 * parameters and modules with the trait `perSampleParameterJacobian` fall
 * back on {@link genericGgnRule}; `setModuleRule` sets others. A module with
 * parameters and neither is refused (core's `UnsupportedModuleError`) before
 * anything is computed; so is a module that mixes samples (BatchNorm in
 * training mode): S is kept per sample (`[V, N, ...]`, column (v, n)
 * non-zero on sample n only), and such a module's Jacobian would spread
 * every column over the whole batch.
 *
 * A parameter used by several modules (weight sharing) gets the quantity of
 * its total Jacobian: the P of every use are summed first and then reduced
 * (the squares of a sum are not the sum of the squares).
 */
export abstract class GgnExtension extends BackpropExtension<Tensor, GgnExtension, GgnRule> {
  protected constructor(
    /** Exact or sampled loss square root. */
    readonly lossSqrt: LossSqrt,
    /** What is stored from P. */
    readonly reduction: GgnReduction,
    subsampling?: readonly number[],
    /**
     * The convolutions' memory mode (BackPACK's `weight_jac_t_save_memory`):
     * a convolution weight's `P` is built a chunk of samples at a time
     * (`sampleChunks`), each reduced before the next, so DiagGGN and
     * BatchDiagGGN never hold `P` for the whole batch.
     */
    readonly convSaveMemory = false,
  ) {
    super(
      [
        [Linear, linearGgnRule],
        [RNNBase, recurrentGgnRule],
      ],
      subsampling,
    );
  }

  /**
   * The loss Hessian's square root (exact or sampled) of the samples in
   * `node`; with subsampling, scaled to the whole batch's reduction (a `mean`
   * divides by all `batchSize` samples, as BackPACK's), so the subset's
   * columns are those of the full square root.
   */
  protected atLoss(node: GraphNode, loss: LossModule, batchSize: number): Tensor {
    const sqrt =
      this.lossSqrt.kind === 'exact'
        ? loss.sqrtHessian(node)
        : loss.sqrtHessianSampled(node, this.lossSqrt.mcSamples, this.lossSqrt.generator);
    return node.batchSize === batchSize || loss.reduction !== 'mean' ? sqrt : mul(sqrt, Math.sqrt(node.batchSize / batchSize));
  }

  protected accumulate(a: Tensor, b: Tensor): Tensor {
    return add(a, b);
  }

  protected override fallbackRule(module: LeafModule): GgnRule | undefined {
    const generic = module.ownNamedParameters().length === 0 || module.traits.perSampleParameterJacobian === true;
    return generic ? genericGgnRule : undefined;
  }

  protected override fallbackRequirement(): string {
    return 'the trait perSampleParameterJacobian';
  }

  /** This use's contribution per parameter: the reduced P, or P itself for a shared parameter (reduced in `finalize`). */
  protected override parameterQuantities(
    rule: GgnRule,
    node: GraphNode,
    sqrt: Tensor,
    { graph }: BackpropContext<GgnExtension>,
  ): ReadonlyMap<string, Quantity> {
    const results = new Map<string, Quantity>();
    for (const [name, parameter] of node.module.ownTrainableParameters()) {
      results.set(name, this.parameterQuantity(rule, node, name, isShared(graph, parameter), sqrt));
    }
    return results;
  }

  /** Every op passes: the GGN needs only first derivatives between the loss and the parameters. */
  protected override opRefusal(): undefined {
    return undefined;
  }

  /** `S ↦ Jᵀ S` by the op's own vector-Jacobian product over the leading dimension of S. */
  protected override backpropagateThroughOp(node: OpNode, sqrt: Tensor): readonly (Tensor | undefined)[] {
    return node.derivatives.vjp(sqrt);
  }

  override begin(graph: RecordedGraph): ExtensionPass {
    const walk = super.begin(graph);
    return {
      ...walk,
      // A shared parameter's contributions are its P of every use: sum, then reduce.
      finalize: (parameter, contributions) => {
        const total = (contributions as readonly Tensor[]).reduce((a, b) => add(a, b));
        return isShared(graph, parameter) ? this.reduce(total) : total;
      },
    };
  }

  private parameterQuantity(rule: GgnRule, node: GraphNode, name: string, shared: boolean, sqrt: Tensor): Tensor {
    const convolution = node.module instanceof ConvNd || node.module instanceof ConvTransposeNd;
    if (!this.convSaveMemory || !convolution || name !== 'weight') return this.quantityOfCall(rule, node, name, shared, sqrt);
    const entries = sqrt.shape[0]! * node.module.parameter(name).data.size;
    const parts = sampleChunks(node.batchSize, entries).map((samples) =>
      tidy(() => this.quantityOfCall(rule, node.module.restrictToSamples(node, samples), name, shared, selectIndices(sqrt, 1, samples))),
    );
    if (parts.length === 1) return parts[0]!;
    // P and its per-sample reductions are per sample (the batch in axis 1 of P, 0 of BatchDiagGGN); DiagGGN sums.
    if (this.reduction === 'sqrt' || shared) return concat(parts, 1);
    return this.reduction === 'batchDiagonal' ? concat(parts, 0) : sum(concat(parts.map((p) => reshape(p, [1, ...p.shape])), 0), 0);
  }

  /** This use's contribution for the recorded call `node` (or a part of its batch). */
  private quantityOfCall(rule: GgnRule, node: GraphNode, name: string, shared: boolean, sqrt: Tensor): Tensor {
    const sqrtGgn = () => rule.sqrtGgn?.(node, name, sqrt) ?? node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false });
    if (this.reduction === 'sqrt' || shared) return sqrtGgn();
    const options = { sumBatch: this.reduction === 'diagonal' };
    return rule.diagGgn?.(node, name, sqrt, options) ?? squaredSum(sqrtGgn(), options);
  }

  /** The stored quantity from the summed P of a shared parameter. */
  private reduce(sqrtGgn: Tensor): Tensor {
    return this.reduction === 'sqrt' ? sqrtGgn : squaredSum(sqrtGgn, { sumBatch: this.reduction === 'diagonal' });
  }
}
