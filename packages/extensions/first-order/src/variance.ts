import { Linear, RuleRegistry, type Tensor } from '@backpack-ts/core';
import { factoredVarianceRule, registerFactoredRules } from './module-rules.js';
import { FirstOrderExtension, type FirstOrderRule } from './first-order-extension.js';
import { linearGradientFactors } from './linear-rules.js';
import { centeredVariance } from './statistics.js';

/**
 * Variance of the per-sample gradients over the batch, stored as
 * `param.variance` (`[...param]`): `(1/N) Σ_n (g_n - grad / N)²`, which is
 * the reference's `SumGradSquared / N - (grad / N)²` computed without its
 * cancellation: each per-sample gradient is centred before it is squared.
 * Linear, convolution and embedding weights build their per-sample
 * gradients a chunk of samples at a time (never `[N, ...weight]` at once).
 */
export class Variance extends FirstOrderExtension {
  readonly name = 'Variance';
  readonly savefield = 'variance';
  readonly rules = registerFactoredRules(
    new RuleRegistry<FirstOrderRule>(this.name).register(Linear, factoredVarianceRule(linearGradientFactors)),
    factoredVarianceRule,
  );

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return centeredVariance(gradBatch);
  }
}
