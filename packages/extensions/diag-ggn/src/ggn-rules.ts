import {
  einsum,
  square,
  sum,
  type BackpropContext,
  type GraphNode,
  type ParameterJacobianOptions,
  type RNNBase,
  type Tensor,
} from '@backpack-ts/core';
import type { GgnExtension } from './ggn-extension.js';

/**
 * How one module class takes part in the GGN extensions (DiagGGN, BatchDiagGGN
 * and SqrtGGN, exact and Monte-Carlo).
 *
 * All six backpropagate a square root `S` of the loss Hessian, `[V, N,
 * ...out]` at a module's output (V = classes for the exact variants, samples
 * for the Monte-Carlo ones), and read each parameter's result off
 * `P = J_θᵀ S`, `[V, N, ...param]`: SqrtGGN is P, BatchDiagGGN is `Σ_v P²`,
 * DiagGGN is `Σ_v Σ_n P²`. A rule says how to do that for its module type;
 * every method has a default built from the module's own derivatives.
 *
 * A `GgnRule` is a core `BackpropRule` whose parameter results are given by
 * `sqrtGgn` and `diagGgn` instead of `parameters` (the extension decides
 * which reduction of P it needs). Set one with `extension.setModuleRule`.
 */
export interface GgnRule {
  /**
   * S at input `inputIndex` from S at the output, `[V, N, ...out] -> [V, N,
   * ...in]`; usually {@link backpropagateSqrt} (the module's `jacTMatProd`).
   */
  backpropagate(node: GraphNode, sqrt: Tensor, inputIndex: number, context: BackpropContext<GgnExtension>): Tensor;
  /**
   * P = J_θᵀ S for the parameter `name`, per sample: `[V, N, ...param]`.
   * Default: the module's `paramJacTMatProd(node, name, sqrt, { sumBatch: false })`.
   */
  sqrtGgn?(node: GraphNode, name: string, sqrt: Tensor): Tensor;
  /**
   * A shortcut for `Σ_v P²` (`[N, ...param]`), also summed over the batch
   * (`[...param]`) with `{ sumBatch: true }`, that avoids building P.
   * Default: squares `sqrtGgn`.
   */
  diagGgn?(node: GraphNode, name: string, sqrt: Tensor, options: ParameterJacobianOptions): Tensor;
}

/**
 * The rule for modules whose parameters are handled by their own
 * `paramJacTMatProd` (per sample) and whose inputs by `jacTMatProd`: every
 * method at its default. The fallback of the GGN extensions for modules
 * without parameters and for those with the trait
 * `perSampleParameterJacobian`; for a convolution P is `S[v, n] Uₙᵀ` per
 * group with the unfolded input U, as the reference computes it.
 */
export const genericGgnRule: GgnRule = Object.freeze({ backpropagate: backpropagateSqrt });

/** S at input `inputIndex` by the module's own transposed Jacobian (`jacTMatProd`). */
export function backpropagateSqrt(node: GraphNode, sqrt: Tensor, inputIndex: number): Tensor {
  return node.module.jacTMatProd(node, sqrt, inputIndex);
}

/**
 * Linear: for an input `[N, in]`, `P[v, n, o, i] = S[v, n, o] x[n, i]`, so
 * the squares factor, `Σ_v P² = (Σ_v S²)[n, o] x[n, i]²`, and the diagonal
 * costs no more than the layer's gradient. With extra dimensions between
 * batch and features (`[N, ..., in]`) the per-sample sums over those
 * dimensions do not factor, and P is built (the generic path).
 */
export const linearGgnRule: GgnRule = Object.freeze({
  backpropagate: backpropagateSqrt,
  diagGgn(node: GraphNode, name: string, sqrt: Tensor, options: ParameterJacobianOptions): Tensor {
    if (node.input.rank !== 2 || (name !== 'weight' && name !== 'bias')) {
      return squaredSum(node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false }), options);
    }
    const s2 = sum(square(sqrt), 0); // [N, out]
    if (name === 'bias') return options.sumBatch ? sum(s2, 0) : s2;
    const x2 = square(node.input); // [N, in]
    return options.sumBatch ? einsum('no,ni->oi', s2, x2) : einsum('no,ni->noi', s2, x2);
  },
});

/**
 * RNN and LSTM (core's `RNNBase`): `Σ_v P²` by the module's
 * `paramJacTMatProdSquares`, from the Gram matrices over time of the
 * backpropagated adjoints, without building P (`[V, N, ...param]`, V = C·T
 * columns for a loss at every time step). SqrtGGN and shared parameters
 * build P, with the module's `paramJacTMatProd`.
 */
export const recurrentGgnRule: GgnRule = Object.freeze({
  backpropagate: backpropagateSqrt,
  diagGgn(node: GraphNode, name: string, sqrt: Tensor, options: ParameterJacobianOptions): Tensor {
    return (node.module as RNNBase).paramJacTMatProdSquares(node, name, sqrt, options);
  },
});

/** `Σ_v P²`, and over the batch too with `{ sumBatch: true }`: `[V, N, ...param] -> [N, ...param]` or `[...param]`. */
export function squaredSum(sqrtGgn: Tensor, { sumBatch }: ParameterJacobianOptions): Tensor {
  return sum(square(sqrtGgn), sumBatch ? [0, 1] : 0);
}
