import {
  BackpropExtension,
  BatchNormNd,
  ConvNd,
  ConvTransposeNd,
  Embedding,
  Linear,
  reshape,
  type BackpropRule,
  type ExtensionPass,
  type GraphNode,
  type LeafModule,
  type ModuleRules,
  type Parameter,
  type Quantity,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import {
  convInputFactor,
  convTransposeInputFactor,
  embeddingInputFactor,
  groupBlocks,
  linearInputFactor,
} from './factors.js';
import { NoKroneckerFactorsError, kroneckerRefusal } from './refusals.js';

/** A rule of KFAC, KFLR and KFRA; it reaches the extension's strategy through `context.extension`. */
export type KroneckerRule = BackpropRule<Tensor, KroneckerExtension>;

/**
 * A parameter is used by several modules in one forward pass (weight sharing).
 *
 * The curvature block of a shared parameter is the sum of one Kronecker
 * product per use, which is not a Kronecker product itself, so the Kronecker
 * extensions refuse it instead of returning something else under the same name.
 */
export class WeightSharingError extends Error {
  /** Always `'WeightSharingError'`, to tell the error apart without `instanceof`. */
  override readonly name = 'WeightSharingError';
  constructor(
    /** The extension that refused (`'KFAC'`). */
    readonly extensionName: string,
    /** The parameter's dotted name, e.g. `"1.weight"`. */
    readonly parameterName: string,
    /** The modules that use it, as `describe()` prints them. */
    readonly users: readonly string[],
  ) {
    super(
      `${extensionName}: parameter '${parameterName}' is used ${users.length} times in this forward pass ` +
        `(by ${summarize(users)}): with weight sharing its curvature block is a sum of ${users.length} Kronecker products, ` +
        `which is not a Kronecker product, so ${extensionName} cannot represent it. ` +
        'Use a separate module (and parameter) per use, or a non-Kronecker extension such as DiagGGNExact.',
    );
  }
}

/** `Linear '1' (2 times), Linear '3'`. */
function summarize(users: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const user of users) counts.set(user, (counts.get(user) ?? 0) + 1);
  return [...counts].map(([user, count]) => (count === 1 ? user : `${user} (${count} times)`)).join(', ');
}

/** Whether every parameter of the module has at most one dimension. */
function hasVectorParameters(module: LeafModule): boolean {
  return module.ownNamedParameters().every(([, parameter]) => parameter.data.rank <= 1);
}

function dottedName(module: LeafModule, localName: string): string {
  return module.path === '' ? localName : `${module.path}.${localName}`;
}

/**
 * Base of KFAC, KFLR and KFRA: Hessian backpropagation ("HBP") of a quantity
 * (a square root, or KFRA's batch-averaged matrix) from the loss to every
 * layer, from which each layer reads its Kronecker factors.
 *
 * Subclasses fix the strategy: what starts at the loss (`atLoss`), how the
 * quantity passes through a module (`backpropagateThrough`), and how a layer
 * turns the quantity at its output into output-side factors (`outputFactor`,
 * `channelFactor`, `parameterFactor`). The rules are shared by all three and
 * call these through `context.extension`:
 *
 * - defaults: {@link linearKroneckerRule}, {@link convKroneckerRule} (for
 *   `ConvNd` and `ConvTransposeNd`), {@link batchNormKroneckerRule},
 *   {@link embeddingKroneckerRule};
 * - fallbacks: every module without parameters passes the quantity through
 *   (`backpropagateThrough`); a module with the trait
 *   `perSampleParameterJacobian` whose parameters are vectors (at most one
 *   dimension) gets {@link parameterBlockKroneckerRule};
 * - anything else: `UnsupportedModuleError` until `setModuleRule` gives it a
 *   rule (a factorisation is specific to the module's structure); modules
 *   known to have no factorisation (RNN, LSTM) with the reason
 *   (`NoKroneckerFactorsError`).
 */
export abstract class KroneckerExtension extends BackpropExtension<Tensor, KroneckerExtension, KroneckerRule> {
  protected constructor(
    readonly name: string,
    readonly savefield: string,
  ) {
    super(defaultRules);
  }

  /**
   * The quantity at input `inputIndex` of `node`'s module from the quantity at
   * its output; `gradOutput` is the gradient of the loss w.r.t. that output.
   */
  abstract backpropagateThrough(node: GraphNode, backproped: Tensor, gradOutput: Tensor, inputIndex: number): Tensor;

  /**
   * The output-side Kronecker factor `[out, out]` of a Linear-like layer whose
   * output `[N, ..., out]` has the features in its last dimension, from the
   * quantity at that output.
   */
  abstract outputFactor(node: GraphNode, backproped: Tensor): Tensor;

  /**
   * The channel factor `[C, C]` of a layer whose output `[N, C, ...spatial]`
   * has the channels in dimension 1 (convolutions, BatchNorm), from the
   * quantity at that output: the (approximate) GGN of a per-channel bias,
   * every pair of positions included.
   */
  abstract channelFactor(node: GraphNode, backproped: Tensor): Tensor;

  /**
   * The (approximate) GGN block `[p, p]` of the module's parameter `name`
   * (flattened), from the quantity at its output, through the parameter's
   * per-sample Jacobian (`paramJacTMatProd`): for parameters whose Jacobian
   * depends on the sample, such as BatchNorm's scale.
   */
  abstract parameterFactor(node: GraphNode, name: string, backproped: Tensor): Tensor;

  protected override fallbackRule(module: LeafModule): KroneckerRule | undefined {
    if (module.ownNamedParameters().length === 0) return parameterFreeRule;
    return hasVectorParameters(module) && module.traits.perSampleParameterJacobian === true ? parameterBlockKroneckerRule : undefined;
  }

  /** Traits help only a module whose parameters are vectors; larger ones need a rule with structure. */
  protected override fallbackRequirement(module: LeafModule): string | undefined {
    return hasVectorParameters(module) ? 'the trait perSampleParameterJacobian' : undefined;
  }

  /** A module without a rule is refused with the reason where one is known (recurrent layers: `refusals.ts`). */
  protected override requireRule(module: LeafModule): KroneckerRule {
    const reason = this.ruleFor(module) === undefined ? kroneckerRefusal(module) : undefined;
    if (reason !== undefined) throw new NoKroneckerFactorsError(this.name, module, reason);
    return super.requireRule(module);
  }

  /** Besides a rule for every module and no sample mixing, refuses shared parameters (before anything is computed). */
  override check(node: GraphNode, graph: RecordedGraph): void {
    super.check(node, graph);
    for (const [name, parameter] of node.module.ownTrainableParameters()) {
      if ((graph.parameterUses.get(parameter) ?? 0) > 1) {
        const users = graph.nodes
          .filter((other) => other.module.ownTrainableParameters().some(([, p]) => p === parameter))
          .map((other) => other.module.describe())
          .reverse(); // forward order
        throw new WeightSharingError(this.name, dottedName(node.module, name), users);
      }
    }
  }

  override begin(graph: RecordedGraph): ExtensionPass {
    const pass = super.begin(graph);
    return {
      ...pass,
      // `check` refused shared parameters, so each parameter has exactly one contribution;
      // never let the engine's default sum add Kronecker factors elementwise.
      finalize: (_parameter: Parameter, contributions: readonly Quantity[]): Quantity => {
        if (contributions.length !== 1) {
          throw new Error(`${this.name}: a parameter received ${contributions.length} sets of Kronecker factors (weight sharing is not supported)`);
        }
        return contributions[0]!;
      },
    };
  }
}

/** The quantity passes on through the extension's `backpropagateThrough`. */
const passThrough: KroneckerRule['backpropagate'] = (node, backproped, inputIndex, { extension, gradOutput }) =>
  extension.backpropagateThrough(node, backproped, gradOutput, inputIndex);

/** Modules without parameters: the quantity passes through, nothing is stored. */
const parameterFreeRule: KroneckerRule = { backpropagate: passThrough };

/**
 * Input-side factors by recorded call, so that KFAC, KFLR and KFRA in one
 * backward pass compute `A` once: it depends on the recorded input only.
 * The node lives for one forward pass, and so does its entry.
 */
const inputFactors = new WeakMap<GraphNode, Tensor>();

/**
 * The input-side factor of `node`, `compute(node)` the first time it is asked
 * for; later callers get their own handle on the same values, so either
 * parameter field can be disposed alone.
 */
function sharedInputFactor(node: GraphNode, compute: (node: GraphNode) => Tensor): Tensor {
  const known = inputFactors.get(node);
  if (known !== undefined && !known.isDisposed) return reshape(known, known.shape);
  const factor = compute(node);
  inputFactors.set(node, factor);
  return factor;
}

/**
 * `Linear` (input `[N, ..., in]`): weight `[G, A]`, bias `[G]`, where
 * `G = extension.outputFactor(node, Q)` and `A = linearInputFactor(node)`,
 * both symmetric and each computed once: G for weight and bias, A for every
 * Kronecker extension of the pass.
 */
export const linearKroneckerRule: KroneckerRule = {
  parameters: (node, backproped, { extension }) => {
    const { weight, bias } = node.module as Linear;
    const g = extension.outputFactor(node, backproped);
    const factors = new Map<string, Quantity>();
    if (weight.requiresGrad) factors.set('weight', [g, sharedInputFactor(node, linearInputFactor)]);
    // Its own tensor (a fresh handle on the same values), so either parameter's field can be disposed alone.
    if (bias?.requiresGrad === true) factors.set('bias', [reshape(g, g.shape)]);
    return factors;
  },
  backpropagate: passThrough,
};

/**
 * The rule for convolutions and transposed convolutions (any spatial rank),
 * as the reference defines them (`HBPConvNd`, `HBPConvTransposeNd`), with the
 * unfolded input's factor `inputFactor`:
 *
 * - weight `[G, A]`: `G = extension.channelFactor(node, Q)` (`[out, out]`,
 *   the bias GGN) and `A = (1/N) Σ_n U_n U_nᵀ` (`[in·K, in·K]`) from the
 *   unfolded input U;
 * - bias `[G]`.
 *
 * For a transposed convolution the factors belong to the weight with its
 * first two axes swapped (`[out, in/G, ...k]`, the convolution's layout), as
 * in the reference, whose warning says so; its unfolded input is the one of
 * the transposed convolution (see `convTransposeUnfoldedInput`).
 *
 * With G > 1 channel groups (the reference refuses them) the weight's
 * curvature is approximated block-diagonally, one Kronecker product per
 * group: weight `[G_g, A_g]` stacked along a leading group axis,
 * `[G, out/G, out/G]` (diagonal blocks of the bias's G) and
 * `[G, in/G·K, in/G·K]` (the group's unfolded input channels). Group g's block
 * of the weight (rows `g·out/G ...` of `[out, in/G, ...k]`) is approximated
 * by `G_g ⊗ A_g`. The bias factor stays the full `[out, out]`.
 */
export function convKroneckerRule(inputFactor: (node: GraphNode) => Tensor): KroneckerRule {
  return {
    parameters: (node, backproped, { extension }) => {
      const module = node.module as ConvNd | ConvTransposeNd;
      const g = extension.channelFactor(node, backproped);
      const factors = new Map<string, Quantity>();
      if (module.weight.requiresGrad) factors.set('weight', [groupBlocks(g, module.groups), inputFactor(node)]);
      if (module.bias?.requiresGrad === true) factors.set('bias', [reshape(g, g.shape)]);
      return factors;
    },
    backpropagate: passThrough,
  };
}

/**
 * BatchNorm (evaluation mode; training mode is refused in `check`), beyond
 * the reference: `y = γ x̂ + β` per channel. Its parameters are per-channel
 * vectors with no input side to factor, so each gets one factor, its whole
 * (approximate) GGN block, as {@link parameterBlockKroneckerRule} gives:
 * weight `[Γ]` with `Γ = Σ_n J_γ,nᵀ (·) J_γ,n` (`extension.parameterFactor`,
 * `[C, C]`; J_γ,n holds sample n's x̂) and bias `[B]` with
 * `B = extension.channelFactor` (`[C, C]`, the same block without the
 * per-sample Jacobian products). For KFLR these are the exact GGN blocks of
 * γ and β; KFAC samples them; KFRA uses its batch-averaged matrix in place of
 * the per-sample GGN.
 */
export const batchNormKroneckerRule: KroneckerRule = {
  parameters: (node, backproped, { extension }) => {
    const module = node.module as BatchNormNd;
    const factors = new Map<string, Quantity>();
    if (module.weight?.requiresGrad === true) factors.set('weight', [extension.parameterFactor(node, 'weight', backproped)]);
    if (module.bias?.requiresGrad === true) factors.set('bias', [extension.channelFactor(node, backproped)]);
    return factors;
  },
  backpropagate: passThrough,
};

/**
 * Embedding `[num, dim]`, beyond the reference: the lookup is a Linear layer
 * (weight `Wᵀ`, no bias) on one-hot inputs, so its factors are Linear's, in
 * the order of the embedding's own row-major layout: weight `[A, G]` with
 * `A = (1/(N·S)) Σ e eᵀ` (`[num, num]`, diagonal: index frequencies) and
 * `G = extension.outputFactor` (`[dim, dim]`); `A ⊗ G` approximates the
 * curvature of the row-major vectorised table. Index positions beyond the
 * batch (`[N, S]` indices) count as extra batch, as for Linear.
 */
export const embeddingKroneckerRule: KroneckerRule = {
  parameters: (node, backproped, { extension }) =>
    new Map<string, Quantity>(
      (node.module as Embedding).weight.requiresGrad ? [['weight', [embeddingInputFactor(node), extension.outputFactor(node, backproped)]]] : [],
    ),
  backpropagate: passThrough,
};

/**
 * Every parameter gets one factor, its whole (approximate) GGN block
 * `[p, p]` from `extension.parameterFactor`: what Kronecker factors of a
 * vector parameter come to, as for a bias. The fallback for modules with
 * the trait `perSampleParameterJacobian` whose parameters are vectors
 * (larger parameters need a rule with structure: the block grows as p²).
 */
export const parameterBlockKroneckerRule: KroneckerRule = {
  parameters: (node, backproped, { extension }) =>
    new Map<string, Quantity>(
      node.module.ownTrainableParameters().map(([name]) => [name, [extension.parameterFactor(node, name, backproped)]]),
    ),
  backpropagate: passThrough,
};

/** The package's rules, by module class (subclasses included). */
const defaultRules: ModuleRules<KroneckerRule> = [
  [Linear, linearKroneckerRule],
  [ConvNd, convKroneckerRule(convInputFactor)],
  [ConvTransposeNd, convKroneckerRule(convTransposeInputFactor)],
  [BatchNormNd, batchNormKroneckerRule],
  [Embedding, embeddingKroneckerRule],
];
