import { tensor, type Tensor } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';
import { resolveHutchinsonOptions, type HutchinsonOptions } from './hutchinson-options.js';
import { squareSize } from './operator-products.js';
import { forEachProbeBatch } from './probe-batches.js';

/** A diagonal estimate from random probes, entry by entry. */
export interface DiagonalEstimate {
  /** `[n]`: the estimate of `diag(A)`, on the operator's backend and dtype. */
  readonly estimate: Tensor;
  /** `[n]`: the standard error of each entry of the estimate. */
  readonly standardError: Tensor;
  /** Products with the operator spent. */
  readonly matvecs: number;
}

/**
 * Hutchinson's diagonal estimator: the mean of `v ⊙ (A v)` over random
 * probes `v`, an unbiased estimate of `diag(A)`, with each entry's standard
 * error. With Rademacher probes entry `i` of one sample has variance
 * `Σ_{j≠i} A_ij²`, so the estimate is exact for a diagonal matrix.
 */
export function hutchinsonDiagonal(operator: LinearOperator, options: HutchinsonOptions): DiagonalEstimate {
  const owner = 'hutchinsonDiagonal';
  const probe = resolveHutchinsonOptions(owner, options);
  const n = squareSize(owner, operator);
  // Welford's running mean and sum of squared deviations, per entry (no cancellation when the spread is small).
  const mean = new Float64Array(n);
  const deviations = new Float64Array(n);
  let seen = 0;
  forEachProbeBatch(owner, operator, probe, (probes, products, count) => {
    for (let j = 0; j < count; j++) {
      seen++;
      for (let i = 0; i < n; i++) {
        const sample = probes[i * count + j]! * products[i * count + j]!;
        const delta = sample - mean[i]!;
        mean[i]! += delta / seen;
        deviations[i]! += delta * (sample - mean[i]!);
      }
    }
  });
  const count = probe.matvecs;
  const standardError = deviations.map((d) => Math.sqrt(d / (count - 1) / count));
  const on = { backend: operator.backend, dtype: operator.dtype };
  return { estimate: tensor(mean, [n], on), standardError: tensor(standardError, [n], on), matvecs: count };
}
