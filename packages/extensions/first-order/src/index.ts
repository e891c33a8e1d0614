/**
 * @backpack-ts/first-order: per-sample gradients and their statistics, in the
 * same backward pass as the gradient.
 *
 * Importing this package adds the typed fields `gradBatch`, `variance`,
 * `sumGradSquared` and `batchL2` to core's `Parameter`.
 *
 * The parameter owns these fields: the next backward pass that computes one
 * replaces it and disposes the previous tensors, so a value read from a field
 * is valid until then (a later use throws, naming that pass). Keep a copy
 * with `clone()` to hold it across passes (see core's `Parameter`).
 *
 * @module \@backpack-ts/first-order
 */
import type { Tensor } from '@backpack-ts/core';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** BatchGrad: per-sample gradients `[N, ...param]`. */
    gradBatch?: Tensor;
    /** Variance: variance of the per-sample gradients `[...param]`. */
    variance?: Tensor;
    /** SumGradSquared: Σ_n g_n², `[...param]`. */
    sumGradSquared?: Tensor;
    /** BatchL2Grad: ‖g_n‖² per sample, `[N]`. */
    batchL2?: Tensor;
  }
}

export { BatchGrad, type BatchGradOptions } from './batch-grad.js';
export { Variance } from './variance.js';
export { SumGradSquared } from './sum-grad-squared.js';
export { BatchL2Grad } from './batch-l2-grad.js';
export { FirstOrderExtension, type FirstOrderRule } from './first-order-extension.js';
export { perSampleGradient } from './per-sample-gradient.js';
export {
  convGradientFactors,
  convTransposeGradientFactors,
  embeddingGradientFactors,
  factoredPerSample,
  factoredSumGradSquared,
  factoredBatchL2,
  factoredVariance,
  type FactoredGradient,
} from './factored-gradient.js';
export { factoredSumGradSquaredRule, factoredBatchL2Rule, factoredVarianceRule } from './module-rules.js';
export { centeredVariance, varianceFrom } from './statistics.js';
export { linearGradientFactors } from './linear-rules.js';
