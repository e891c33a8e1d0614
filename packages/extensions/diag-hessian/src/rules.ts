/**
 * Rules of DiagHessian and BatchDiagHessian, by module class.
 *
 * - Parameter-free modules need no rule: the extensions fall back to
 *   {@link parameterFreeRule}, which backpropagates with the module's
 *   `jacTMatProd` and adds its `residualHessianDiagonal`.
 * - Modules with parameters must be registered; core's Linear is. A module
 *   whose output is affine in each of its parameters (convolutions, ...) can
 *   use {@link affineInParametersRule}; register it for both extensions with
 *   {@link registerHessianRule}.
 */
import {
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  Embedding,
  Linear,
  RuleRegistry,
  add,
  einsum,
  mul,
  permute,
  reshape,
  square,
  sum,
  type BackpropRule,
  type GraphNode,
  type ModuleClass,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import {
  backpropFactor,
  backpropFactors,
  parameterDiagonal,
  type SqrtFactor,
  type SqrtFactors,
} from './sqrt-factors.js';

/** A rule of DiagHessian (`sumBatch` true) or BatchDiagHessian (false). */
export type HessianRule = BackpropRule<SqrtFactors>;

/** Makes the rule for one of the two extensions: summed over the batch, or per sample. */
export type HessianRuleFactory = (sumBatch: boolean) => HessianRule;

/** For modules without parameters: `jacTMatProd` plus the residual term. */
export const parameterFreeRule: HessianRule = {
  backpropagate: (node, factors, gradOutput, inputIndex) => backpropFactors(node, factors, gradOutput, inputIndex),
};

/**
 * For modules whose output is affine in each parameter (`∇²_θ y = 0`), with
 * a per-sample `paramJacTMatProd`: the parameter diagonal is
 * `Σ_k Σ_v sign (J_θᵀ S_k)²`. Computes `[V, N, ...param]` per factor.
 */
export const affineInParametersRule: HessianRuleFactory = (sumBatch) => ({
  backpropagate: (node, factors, gradOutput, inputIndex) => backpropFactors(node, factors, gradOutput, inputIndex),
  parameters: (node, factors) => {
    const results = new Map<string, Quantity>();
    for (const [name] of node.module.ownNamedParameters()) results.set(name, parameterDiagonal(node, name, factors, sumBatch));
    return results;
  },
});

/**
 * `Σ_v sign[v, n] S[v, n, o]²` as `[N, out]`: all a Linear layer with input
 * `[N, in]` needs of a factor, since `(J_Wᵀ S)[v, n, o, i] = S[v, n, o] x[n, i]`.
 */
function signedRowSquares(factor: SqrtFactor): Tensor {
  if (factor.kind === 'diagonal') return mul(factor.signs, square(factor.values));
  const squared = square(factor.sqrt);
  const signed = factor.signs === undefined ? squared : mul(squared, reshape(factor.signs, [...factor.signs.shape, 1]));
  return sum(signed, 0);
}

/**
 * `Jᵀ S = S W`. A diagonal factor (input `[N, in]`) becomes dense without
 * building its `[out, N, out]` form: column o of sample n is `values[n, o] W[o, :]`.
 */
function linearBackpropFactor(node: GraphNode, factor: SqrtFactor, inputIndex: number): SqrtFactor {
  if (factor.kind !== 'diagonal' || node.input.rank !== 2) return backpropFactor(node, factor, inputIndex);
  const weight = (node.module as Linear).weight.data;
  const [out, n] = [weight.shape[0]!, node.batchSize];
  const values = reshape(permute(factor.values, [1, 0]), [out, n, 1]);
  return {
    kind: 'dense',
    origin: factor.origin,
    sqrt: mul(values, reshape(weight, [out, 1, weight.shape[1]!])),
    signs: permute(factor.signs, [1, 0]),
  };
}

/**
 * Linear: `y = x Wᵀ + b` is affine in W and b. For an input `[N, in]` the
 * diagonals factor: weight `Σ_n r[n, o] x[n, i]²`, bias `Σ_n r[n, o]`, with
 * `r = Σ_k Σ_v sign S_k²` of shape `[N, out]`, so nothing of size
 * `[V, N, out, in]` is built. Inputs with extra dimensions take the general path.
 */
export const linearRule: HessianRuleFactory = (sumBatch) => {
  const general = affineInParametersRule(sumBatch);
  return {
    backpropagate: (node, factors, gradOutput, inputIndex) =>
      backpropFactors(node, factors, gradOutput, inputIndex, linearBackpropFactor),
    parameters: (node, factors, gradOutput, graph) => {
      if (node.input.rank !== 2 || factors.length === 0) return general.parameters!(node, factors, gradOutput, graph);
      const rows = factors.map(signedRowSquares).reduce((total, r) => add(total, r));
      const results = new Map<string, Quantity>();
      const x2 = square(node.input);
      results.set('weight', einsum(sumBatch ? 'no,ni->oi' : 'no,ni->noi', rows, x2));
      if ((node.module as Linear).bias !== undefined) results.set('bias', sumBatch ? sum(rows, 0) : rows);
      return results;
    },
  };
};

/** DiagHessian's rules (summed over the batch). */
export const diagHessianRules = new RuleRegistry<HessianRule>('DiagHessian').register(Linear, linearRule(true));

/** BatchDiagHessian's rules (per sample). */
export const batchDiagHessianRules = new RuleRegistry<HessianRule>('BatchDiagHessian').register(Linear, linearRule(false));

/**
 * Registers a rule for `moduleClass` with both DiagHessian (`factory(true)`)
 * and BatchDiagHessian (`factory(false)`), e.g.
 * `registerHessianRule(MyConv, affineInParametersRule)`.
 */
export function registerHessianRule(moduleClass: ModuleClass, factory: HessianRuleFactory): void {
  diagHessianRules.register(moduleClass, factory(true));
  batchDiagHessianRules.register(moduleClass, factory(false));
}

/**
 * Core's other layers with parameters. Each is affine in each of its
 * parameters (convolutions and transposed convolutions in weight and bias,
 * an embedding in its table, BatchNorm in evaluation mode in scale and
 * shift), so {@link affineInParametersRule} is exact for them.
 */
export const affineInParametersModules: readonly ModuleClass[] = [
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Embedding,
];
for (const moduleClass of affineInParametersModules) registerHessianRule(moduleClass, affineInParametersRule);
