/**
 * Rules of DiagHessian and BatchDiagHessian. One rule serves both: its
 * `parameters` read `context.extension.sumBatch`.
 *
 * - Modules without parameters fall back on {@link parameterFreeHessianRule},
 *   which backpropagates with the module's `jacTMatProd` and adds its
 *   `residualHessianDiagonal`.
 * - Modules with the traits `perSampleParameterJacobian` and
 *   `affineInParameters` (convolutions, BatchNorm, Embedding, third-party
 *   ones) fall back on {@link affineInParametersRule}.
 * - `Linear` has its own default, {@link linearHessianRule}, which avoids
 *   building `[V, N, out, in]`.
 */
import {
  add,
  einsum,
  mul,
  permute,
  reshape,
  square,
  sum,
  type BackpropRule,
  type GraphNode,
  type Linear,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import type { HessianDiagonalExtension } from './diag-hessian.js';
import {
  backpropFactor,
  backpropFactors,
  parameterDiagonal,
  type SqrtFactor,
  type SqrtFactors,
} from './sqrt-factors.js';

/** A rule of DiagHessian and BatchDiagHessian. */
export type HessianRule = BackpropRule<SqrtFactors, HessianDiagonalExtension>;

/** For modules without parameters: `jacTMatProd` plus the residual term. */
export const parameterFreeHessianRule: HessianRule = {
  backpropagate: (node, factors, inputIndex, { gradOutput }) => backpropFactors(node, factors, gradOutput, inputIndex),
};

/**
 * For modules whose output is affine in each parameter (`∇²_θ y = 0`), with
 * a per-sample `paramJacTMatProd`: the parameter diagonal is
 * `Σ_k Σ_v sign (J_θᵀ S_k)²`. Computes `[V, N, ...param]` per factor.
 */
export const affineInParametersRule: HessianRule = {
  backpropagate: parameterFreeHessianRule.backpropagate,
  parameters: (node, factors, { extension }) => {
    const results = new Map<string, Quantity>();
    for (const [name] of node.module.ownTrainableParameters()) {
      results.set(name, parameterDiagonal(node, name, factors, { sumBatch: extension.sumBatch }));
    }
    return results;
  },
};

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
export const linearHessianRule: HessianRule = {
  backpropagate: (node, factors, inputIndex, { gradOutput }) =>
    backpropFactors(node, factors, gradOutput, inputIndex, linearBackpropFactor),
  parameters: (node, factors, context) => {
    if (node.input.rank !== 2 || factors.length === 0) return affineInParametersRule.parameters!(node, factors, context);
    const { sumBatch } = context.extension;
    const rows = factors.map(signedRowSquares).reduce((total, r) => add(total, r));
    const results = new Map<string, Quantity>();
    const { weight, bias } = node.module as Linear;
    if (weight.requiresGrad) results.set('weight', einsum(sumBatch ? 'no,ni->oi' : 'no,ni->noi', rows, square(node.input)));
    if (bias?.requiresGrad === true) results.set('bias', sumBatch ? sum(rows, 0) : rows);
    return results;
  },
};
