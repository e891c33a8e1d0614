/**
 * First-order rules of the layers beyond Linear.
 *
 * - Every layer with the trait `perSampleParameterJacobian` gets all four
 *   extensions from the per-sample rule (the module's own `paramJacTMatProd`,
 *   the extensions' fallback); nothing is registered for that.
 * - Convolutions, transposed convolutions and embeddings have weight
 *   gradients that are sums of outer products over positions; SumGradSquared,
 *   BatchL2Grad and Variance use those factors (see `factored-gradient.ts`)
 *   rather than holding `[N, ...weight]` at once. Their biases (`[N, out]` per
 *   sample) take the per-sample path. Variance in float64 instead uses the
 *   SumGradSquared rule and the summed gradient (see {@link varianceRule}),
 *   whose chunks cost about as much as the centred ones, so float32 keeps the
 *   centred path for these layers.
 */
import {
  ConvNd,
  ConvTransposeNd,
  Embedding,
  GraphNode,
  cast,
  reshape,
  square,
  sum,
  type ModuleClass,
  type ModuleRules,
  type Tensor,
} from '@backpack-ts/core';
import { perSampleGradient } from './per-sample-gradient.js';
import {
  convGradientFactors,
  convTransposeGradientFactors,
  embeddingGradientFactors,
  factoredBatchL2,
  factoredSumGradSquared,
  factoredVariance,
  type FactoredGradient,
} from './factored-gradient.js';
import type { FirstOrderRule } from './first-order-extension.js';
import { centeredVariance, summedGradient, varianceFrom } from './statistics.js';

type Factors = (node: GraphNode, gradOutput: Tensor) => FactoredGradient;

/** Layers whose weight gradient factors over positions (subclasses included), with how to get the factors. */
const factoredModules: readonly [ModuleClass, Factors][] = [
  [ConvNd, convGradientFactors],
  [ConvTransposeNd, convTransposeGradientFactors],
  [Embedding, embeddingGradientFactors],
];

/** SumGradSquared: the weight from its factors, anything else (biases) from per-sample gradients. */
export function factoredSumGradSquaredRule(factors: Factors): FirstOrderRule {
  return (node: GraphNode, gradOutput: Tensor, name: string): Tensor =>
    name === 'weight'
      ? factoredSumGradSquared(factors(node, gradOutput))
      : sum(square(perSampleGradient(node, gradOutput, name)), 0);
}

/** BatchL2Grad: the weight from its factors, anything else from per-sample gradients. */
export function factoredBatchL2Rule(factors: Factors): FirstOrderRule {
  return (node: GraphNode, gradOutput: Tensor, name: string): Tensor => {
    if (name === 'weight') return factoredBatchL2(factors(node, gradOutput));
    const perSample = perSampleGradient(node, gradOutput, name);
    return sum(square(reshape(perSample, [perSample.shape[0]!, -1])), 1);
  };
}

/**
 * The recorded call as if it had run in float64: its float32 inputs, output
 * and saved tensors, and the output gradient, cast to float64 (int32 indices
 * stay). The module's parameters stay float32, so only derivatives that read
 * none of them (parameter gradients, as Linear's) can run on it. The node is
 * part of no graph.
 */
function castToFloat64(node: GraphNode, gradOutput: Tensor): { node: GraphNode; gradOutput: Tensor } {
  const toFloat64 = (t: Tensor): Tensor => (t.dtype === 'float32' ? cast(t, 'float64') : t);
  const saved = Object.fromEntries(Object.entries(node.saved).map(([key, t]) => [key, toFloat64(t)]));
  return {
    node: new GraphNode(node.module, node.inputs.map(toFloat64), toFloat64(node.output), saved),
    gradOutput: toFloat64(gradOutput),
  };
}

/**
 * Variance by `SumGradSquared / N - (grad / N)²` where that formula is both
 * cheap and accurate, by centred per-sample gradients elsewhere:
 *
 * - float64: the formula, from `sumGradSquared` (the module's SumGradSquared
 *   rule) and the summed gradient;
 * - float32, when `sumGradSquaredIsProduct(node)` (the rule is products of
 *   the recorded tensors, Linear's `(g²)ᵀx²`) and the backend stores float64:
 *   the formula on float64 copies of the recorded tensors, cast back;
 * - float32 otherwise: centred, the weight from its factors a chunk of
 *   samples at a time.
 *
 * Why: the formula cancels (relative error about `eps · mean² / variance`),
 * which float32 cannot afford and float64 can, also on float64 copies of
 * float32 factors (their squares and products are exact there); centring
 * costs the per-sample gradients, and where the float64 rule builds them in
 * chunks anyway, casting buys nothing. The measurements behind this are in
 * docs/PERFORMANCE.md ("Variance: which formula").
 */
export function varianceRule(
  factors: Factors,
  sumGradSquared: FirstOrderRule,
  sumGradSquaredIsProduct: (node: GraphNode) => boolean = () => false,
): FirstOrderRule {
  const fromSumGradSquared: FirstOrderRule = (node, gradOutput, name) =>
    varianceFrom(sumGradSquared(node, gradOutput, name), summedGradient(node, gradOutput, name), node.batchSize);
  return (node, gradOutput, name) => {
    if (gradOutput.dtype === 'float64') return fromSumGradSquared(node, gradOutput, name);
    // Biases ([N, out] per sample) are centred cheaply: casting the layer's input again for them would cost more.
    if (name === 'weight' && sumGradSquaredIsProduct(node) && gradOutput.backend.dtypes.includes('float64')) {
      const float64 = castToFloat64(node, gradOutput);
      return cast(fromSumGradSquared(float64.node, float64.gradOutput, name), gradOutput.dtype);
    }
    return name === 'weight'
      ? factoredVariance(factors(node, gradOutput), summedGradient(node, gradOutput, name))
      : centeredVariance(perSampleGradient(node, gradOutput, name));
  };
}

/** `varianceRule` with the SumGradSquared rule of a factored layer ({@link factoredSumGradSquaredRule}). */
export function factoredVarianceRule(factors: Factors): FirstOrderRule {
  return varianceRule(factors, factoredSumGradSquaredRule(factors));
}

/** `makeRule(factors)` for every layer whose weight gradient factors over positions: default rules of an extension. */
export function factoredRules(makeRule: (factors: Factors) => FirstOrderRule): ModuleRules<FirstOrderRule> {
  return factoredModules.map(([moduleClass, factors]) => [moduleClass, makeRule(factors)] as const);
}
