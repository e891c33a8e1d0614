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
  einsum,
  square,
  sum,
  type GraphNode,
  type ModuleClass,
  type Tensor,
} from '@backpack-ts/core';

/**
 * How one module type takes part in the GGN extensions (DiagGGN, BatchDiagGGN
 * and SqrtGGN, exact and Monte-Carlo).
 *
 * All six backpropagate a square root `S` of the loss Hessian, `[V, N,
 * ...out]` at a module's output (V = classes for the exact variants, samples
 * for the Monte-Carlo ones), and read each parameter's result off
 * `P = J_θᵀ S`, `[V, N, ...param]`: SqrtGGN is P, BatchDiagGGN is `Σ_v P²`,
 * DiagGGN is `Σ_v Σ_n P²`. A rule says how to do that for its module type;
 * every method has a default built from the module's own derivatives.
 *
 * A `GgnRule` is a core `BackpropRule<Tensor>` whose parameter results are
 * given by `sqrtGgn` and `diagGgn` instead of `parameters` (the extension
 * decides which reduction of P it needs).
 */
export interface GgnRule {
  /**
   * S at input `inputIndex` from S at the output, `[V, N, ...out] -> [V, N,
   * ...in]`; usually {@link backpropagateSqrt} (the module's `jacTMatProd`).
   */
  backpropagate(node: GraphNode, sqrt: Tensor, gradOutput: Tensor, inputIndex: number): Tensor;
  /**
   * P = J_θᵀ S for the parameter `name`, per sample: `[V, N, ...param]`.
   * Default: the module's `paramJacTMatProd(node, name, sqrt, { sumBatch: false })`.
   */
  sqrtGgn?(node: GraphNode, name: string, sqrt: Tensor): Tensor;
  /**
   * A shortcut for `Σ_v P²` (`[N, ...param]`), also summed over the batch
   * (`[...param]`) when `sumBatch` is true, that avoids building P. Default:
   * squares `sqrtGgn`.
   */
  diagGgn?(node: GraphNode, name: string, sqrt: Tensor, sumBatch: boolean): Tensor;
}

/**
 * The rule for modules whose parameters are handled by their own
 * `paramJacTMatProd` (per sample) and whose inputs by `jacTMatProd`: every
 * method at its default. Register it for a module class to enable the GGN
 * extensions for it: `ggnRules.register(MyModule, genericGgnRule)`.
 */
export const genericGgnRule: GgnRule = Object.freeze({ backpropagate: backpropagateSqrt });

/** S at input `inputIndex` by the module's own transposed Jacobian (`jacTMatProd`). */
export function backpropagateSqrt(node: GraphNode, sqrt: Tensor, _gradOutput: Tensor, inputIndex: number): Tensor {
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
  diagGgn(node: GraphNode, name: string, sqrt: Tensor, sumBatch: boolean): Tensor {
    if (node.input.rank !== 2) return squaredSum(node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false }), sumBatch);
    const s2 = sum(square(sqrt), 0); // [N, out]
    if (name === 'bias') return sumBatch ? sum(s2, 0) : s2;
    if (name !== 'weight') return squaredSum(node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false }), sumBatch);
    const x2 = square(node.input); // [N, in]
    return sumBatch ? einsum('no,ni->oi', s2, x2) : einsum('no,ni->noi', s2, x2);
  },
});

/** `Σ_v P²`, and over the batch too when `sumBatch`: `[V, N, ...param] -> [N, ...param]` or `[...param]`. */
export function squaredSum(sqrtGgn: Tensor, sumBatch: boolean): Tensor {
  return sum(square(sqrtGgn), sumBatch ? [0, 1] : 0);
}

/**
 * The rules of all six GGN extensions, by module class, shared: registering
 * a module here enables DiagGGNExact/MC, BatchDiagGGNExact/MC and
 * SqrtGGNExact/MC for it. Modules without parameters need no rule (their
 * `jacTMatProd` is used); a module class with parameters and no rule is
 * refused with an `UnsupportedModuleError`.
 */
export const ggnRules = new RuleRegistry<GgnRule>('GGN extensions').register(Linear, linearGgnRule);

/**
 * Core's other layers with parameters, registered with {@link genericGgnRule}:
 * their per-sample `paramJacTMatProd` gives P directly (for a convolution,
 * `P[v, n] = S[v, n] Uₙᵀ` per group with the unfolded input U, as the
 * reference computes it).
 */
export const genericGgnModules: readonly ModuleClass[] = [
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
for (const moduleClass of genericGgnModules) ggnRules.register(moduleClass, genericGgnRule);
