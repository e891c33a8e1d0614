import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import { Linear, type GraphNode, type Tensor } from '@backpack-ts/core';
import { factoredSumGradSquared } from './factored-gradient.js';
import { factoredRules, factoredVarianceRule, varianceRule } from './module-rules.js';
import { FirstOrderExtension } from './first-order-extension.js';
import { hasExtraDims, linearGradientFactors, linearSumGradSquared } from './linear-rules.js';
import { centeredVariance } from './statistics.js';

/**
 * Linear's SumGradSquared for Variance in float64: `(g²)ᵀx²` for inputs
 * `[N, in]`; with extra dimensions the weight from its factors, a chunk of
 * samples at a time (never `[N, ...weight]` at once).
 */
function linearSumGradSquaredChunked(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  return name === 'weight' && node.input.rank > 2
    ? factoredSumGradSquared(linearGradientFactors(node, gradOutput))
    : linearSumGradSquared(node, gradOutput, name);
}

/**
 * Variance of the per-sample gradients over the batch, stored as
 * `param.variance` (`[...param]`): `(1/N) Σ_n (g_n - grad / N)²`.
 *
 * - float64: the reference's `SumGradSquared / N - (grad / N)²` from the
 *   module's SumGradSquared rule (Linear's `(g²)ᵀx²`, the factored layers'
 *   chunks) and the summed gradient: fast, and float64 has digits to spare
 *   for its cancellation.
 * - float32, the weight of a Linear on `[N, in]` with a backend that stores
 *   float64 (cpu, onnxruntime): the same formula on the layer's input and
 *   output gradient cast to float64, cast back to float32: two GEMMs, no
 *   per-sample gradients, and the cancellation costs float64 digits only.
 * - float32 otherwise (convolutions, embeddings, Linear on `[N, ..., in]`, a
 *   backend without float64 such as tfjs): each per-sample gradient is
 *   centred before it is squared (no cancellation, which float32 cannot
 *   afford); weights build them a chunk of samples at a time.
 *
 * See `varianceRule` (module-rules.ts) for why. Parameters that take the per-sample path
 * (shared weights, modules without a fast rule) hold `[N, ...param]` anyway
 * and are centred in either dtype.
 */
export class Variance extends FirstOrderExtension {
  readonly name = 'Variance';
  readonly savefield = 'variance';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('Variance', options, []);
    super([
      [Linear, varianceRule(linearGradientFactors, linearSumGradSquaredChunked, (node) => !hasExtraDims(node))],
      ...factoredRules(factoredVarianceRule),
    ]);
  }

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return centeredVariance(gradBatch);
  }
}
