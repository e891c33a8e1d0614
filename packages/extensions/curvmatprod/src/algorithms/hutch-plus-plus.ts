import { rejectUnknownOptions } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';
import type { TraceEstimate } from './hutchinson-trace.js';
import { applyOperator, columnDots, dot, squareSize } from './operator-products.js';
import { RANDOM_OPTIONS, checkCount, checkDistribution, drawProbes, generatorFrom, type ProbeDistribution, type RandomOptions } from './random-probes.js';
import { sampleMean } from './sample-mean.js';
import { orthonormalBasis } from './small-dense.js';

/** Options of {@link hutchPlusPlusTrace}. */
export interface HutchPlusPlusOptions extends RandomOptions {
  /** The budget of products with the operator (at least 4): a third sketches the range, a third projects, the rest are Hutchinson probes. */
  readonly matvecs: number;
  /** The entries of the sketching and probe vectors: `'rademacher'` (default) or `'gaussian'`. */
  readonly distribution?: ProbeDistribution;
}

/**
 * Hutch++ (Meyer, Musco, Musco and Woodruff, 2021): the trace of `A` as the
 * exact trace of its projection on an orthonormal basis `Q` of `A S` (for
 * a random sketch `S`) plus Hutchinson's estimate of the trace of the rest,
 * `(I − QQᵀ) A (I − QQᵀ)`. For matrices whose spectrum decays, the error
 * falls as 1/budget rather than 1/√budget. `standardError` is that of the
 * Hutchinson part, the only part that is a mean of samples.
 */
export function hutchPlusPlusTrace(operator: LinearOperator, options: HutchPlusPlusOptions): TraceEstimate {
  const owner = 'hutchPlusPlusTrace';
  rejectUnknownOptions(owner, options, ['matvecs', 'distribution', ...RANDOM_OPTIONS]);
  const matvecs = checkCount(owner, 'matvecs', options.matvecs, 4, ' (a sketch, its projection and two Hutchinson samples)');
  const distribution = checkDistribution(owner, options.distribution ?? 'rademacher');
  const generator = generatorFrom(owner, options);
  const n = squareSize(owner, operator);
  const sketchSize = Math.min(Math.floor(matvecs / 3), n);
  const probeCount = matvecs - 2 * sketchSize;

  const sketch = drawProbes(generator, distribution, n, sketchSize);
  const q = orthonormalBasis(operator, applyOperator(owner, operator, sketch, sketchSize), n, sketchSize);
  const aq = applyOperator(owner, operator, q, sketchSize);
  const projected = dot(q, aq); // trace(Qᵀ A Q)

  // Probes projected off span(Q): G − Q (Qᵀ G).
  const probes = drawProbes(generator, distribution, n, probeCount);
  const coefficients = new Float64Array(sketchSize * probeCount);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < sketchSize; c++) {
      for (let j = 0; j < probeCount; j++) coefficients[c * probeCount + j]! += q[i * sketchSize + c]! * probes[i * probeCount + j]!;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < sketchSize; c++) {
      for (let j = 0; j < probeCount; j++) probes[i * probeCount + j]! -= q[i * sketchSize + c]! * coefficients[c * probeCount + j]!;
    }
  }
  const products = applyOperator(owner, operator, probes, probeCount);
  const rest = sampleMean(columnDots(probes, products, n, probeCount));
  return { estimate: projected + rest.mean, standardError: rest.standardError, matvecs };
}
