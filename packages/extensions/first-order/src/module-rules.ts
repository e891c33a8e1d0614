/**
 * First-order rules of the layers beyond Linear.
 *
 * - Every layer with parameters is registered for BatchGrad with the generic
 *   per-sample rule (the module's own `paramJacTMatProd`), which enables all
 *   four extensions for it.
 * - Convolutions, transposed convolutions and embeddings have weight
 *   gradients that are sums of outer products over positions; SumGradSquared,
 *   BatchL2Grad and Variance use those factors (see `factored-gradient.ts`)
 *   rather than holding `[N, ...weight]` at once. Their biases (`[N, out]` per
 *   sample) take the per-sample path. Variance in float64 instead uses the
 *   SumGradSquared rule and the summed gradient (see {@link varianceRule}).
 */
import {
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  Embedding,
  reshape,
  square,
  sum,
  type GraphNode,
  type ModuleClass,
  type RuleRegistry,
  type Tensor,
} from '@backpack-ts/core';
import { perSampleGradient } from './batch-grad-rules.js';
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

/** Layers whose weight gradient factors over positions, with how to get the factors. */
export const factoredModules: readonly [ModuleClass, Factors][] = [
  [Conv1d, convGradientFactors],
  [Conv2d, convGradientFactors],
  [Conv3d, convGradientFactors],
  [ConvTranspose1d, convTransposeGradientFactors],
  [ConvTranspose2d, convTransposeGradientFactors],
  [ConvTranspose3d, convTransposeGradientFactors],
  [Embedding, embeddingGradientFactors],
];

/** SumGradSquared: the weight from its factors, anything else (biases) from per-sample gradients. */
export function factoredSumGradSquaredRule(factors: Factors) {
  return (node: GraphNode, gradOutput: Tensor, name: string): Tensor =>
    name === 'weight'
      ? factoredSumGradSquared(factors(node, gradOutput))
      : sum(square(perSampleGradient(node, gradOutput, name)), 0);
}

/** BatchL2Grad: the weight from its factors, anything else from per-sample gradients. */
export function factoredBatchL2Rule(factors: Factors) {
  return (node: GraphNode, gradOutput: Tensor, name: string): Tensor => {
    if (name === 'weight') return factoredBatchL2(factors(node, gradOutput));
    const perSample = perSampleGradient(node, gradOutput, name);
    return sum(square(reshape(perSample, [perSample.shape[0]!, -1])), 1);
  };
}

/**
 * Variance, by dtype. Float32: the weight from its factors (centred chunks),
 * anything else from centred per-sample gradients. Float64: the reference's
 * `SumGradSquared / N - (grad / N)²` from `sumGradSquared` (the module's
 * SumGradSquared rule) and the summed gradient.
 *
 * Why two paths: centring is the only way float32 keeps its digits (the
 * factored formula lost 3 on the golden `cnn2d_pool_ce`, 1.6e-3 against a
 * 1e-4 tolerance), but it builds every per-sample gradient, ~250x the
 * reference's time on the bench's mlp. Float64 can afford the cancellation
 * (at most ~5 of 16 digits on the golden cases, which it matches to 1e-10;
 * BackPACK uses the same formula), so it takes the fast rule.
 */
export function varianceRule(factors: Factors, sumGradSquared: FirstOrderRule): FirstOrderRule {
  return (node, gradOutput, name) => {
    if (gradOutput.dtype === 'float64') {
      return varianceFrom(sumGradSquared(node, gradOutput, name), summedGradient(node, gradOutput, name), node.batchSize);
    }
    return name === 'weight'
      ? factoredVariance(factors(node, gradOutput), summedGradient(node, gradOutput, name))
      : centeredVariance(perSampleGradient(node, gradOutput, name));
  };
}

/** {@link varianceRule} with the SumGradSquared rule of a factored layer ({@link factoredSumGradSquaredRule}). */
export function factoredVarianceRule(factors: Factors): FirstOrderRule {
  return varianceRule(factors, factoredSumGradSquaredRule(factors));
}

/** Registers `makeRule(factors)` for every layer of {@link factoredModules}; returns the registry. */
export function registerFactoredRules<R extends RuleRegistry<(node: GraphNode, gradOutput: Tensor, name: string) => Tensor>>(
  registry: R,
  makeRule: (factors: Factors) => (node: GraphNode, gradOutput: Tensor, name: string) => Tensor,
): R {
  for (const [moduleClass, factors] of factoredModules) registry.register(moduleClass, makeRule(factors));
  return registry;
}
