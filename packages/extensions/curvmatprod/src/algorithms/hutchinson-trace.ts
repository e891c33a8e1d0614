import type { LinearOperator } from '../linear-operator.js';
import { resolveHutchinsonOptions, type HutchinsonOptions } from './hutchinson-options.js';
import { columnDots, squareSize } from './operator-products.js';
import { forEachProbeBatch } from './probe-batches.js';
import { sampleMean } from './sample-mean.js';

/** A trace estimate from random probes. */
export interface TraceEstimate {
  /** The estimate of `trace(A)`. */
  readonly estimate: number;
  /** The standard error of the part of the estimate that is a mean of samples (all of it for Hutchinson). */
  readonly standardError: number;
  /** Products with the operator spent. */
  readonly matvecs: number;
}

/**
 * Hutchinson's trace estimator: the mean of `vᵀ A v` over random probes `v`
 * with independent entries of mean 0 and variance 1, an unbiased estimate of
 * `trace(A)`, with the standard error of that mean. With Rademacher probes
 * one sample has variance `2 (‖A‖_F² − Σ A_ii²)`.
 */
export function hutchinsonTrace(operator: LinearOperator, options: HutchinsonOptions): TraceEstimate {
  const owner = 'hutchinsonTrace';
  const probe = resolveHutchinsonOptions(owner, options);
  const n = squareSize(owner, operator);
  const samples: number[] = [];
  forEachProbeBatch(owner, operator, probe, (probes, products, count) => samples.push(...columnDots(probes, products, n, count)));
  const { mean, standardError } = sampleMean(samples);
  return { estimate: mean, standardError, matvecs: probe.matvecs };
}
