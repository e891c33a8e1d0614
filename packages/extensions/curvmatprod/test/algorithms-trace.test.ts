/**
 * Hutchinson's and Hutch++'s trace estimators and Hutchinson's diagonal
 * estimator against the exact trace and diagonal of dense matrices: each
 * estimate lies within 4 standard errors of the truth, the standard error
 * matches its theoretical value, and an estimate biased by 5 standard errors
 * fails the same check (the check has power).
 */
import { Generator } from '@backpack-ts/core';
import { hutchPlusPlusTrace, hutchinsonDiagonal, hutchinsonTrace } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { diagonalSquared, frobeniusSquared, operatorOf, randomSymmetric, trace, withSpectrum } from './helpers/symmetric-matrices.js';

const within = (estimate: number, exact: number, standardError: number) => Math.abs(estimate - exact) < 4 * standardError;

describe('hutchinsonTrace', () => {
  const a = randomSymmetric(40, 1);
  const operator = operatorOf(a);
  const matvecs = 2000;

  it.each([
    // One sample's variance: 2 (‖A‖_F² − Σ A_ii²) for Rademacher probes, 2 ‖A‖_F² for Gaussian ones.
    ['rademacher', 2 * (frobeniusSquared(a) - diagonalSquared(a))],
    ['gaussian', 2 * frobeniusSquared(a)],
  ] as const)('with %s probes is within 4 standard errors of the trace, and the standard error is the theoretical one', (distribution, variance) => {
    const { estimate, standardError, matvecs: spent } = hutchinsonTrace(operator, { matvecs, distribution, seed: 7 });
    expect(spent).toBe(matvecs);
    expect(within(estimate, trace(a), standardError)).toBe(true);
    // The sample standard deviation of 2000 near-Gaussian samples is within ~2% of the true one; 10% is 5 of its standard deviations.
    expect(Math.abs(standardError / Math.sqrt(variance / matvecs) - 1)).toBeLessThan(0.1);
  });

  it('passes the check over 20 seeds, while the estimate plus 5 standard errors fails it for most', () => {
    const runs = Array.from({ length: 20 }, (_, seed) => hutchinsonTrace(operator, { matvecs: 200, seed: 100 + seed }));
    expect(runs.filter((r) => within(r.estimate, trace(a), r.standardError))).toHaveLength(20);
    // A z-score below -1 would let the biased estimate pass; that happens with probability 0.16, so about 3 of 20.
    const biasedPasses = runs.filter((r) => within(r.estimate + 5 * r.standardError, trace(a), r.standardError)).length;
    expect(biasedPasses).toBeLessThanOrEqual(6);
  });

  it('is exact with Rademacher probes on a diagonal matrix (every sample is the trace)', () => {
    const d = [3, -1, 0.5, 7].map((x, i, all) => all.map((_, j) => (i === j ? x : 0)));
    const { estimate, standardError } = hutchinsonTrace(operatorOf(d), { matvecs: 5, seed: 0 });
    expect(estimate).toBeCloseTo(9.5, 14);
    expect(standardError).toBe(0);
  });

  it('draws from the seed or generator it is given, reproducibly, in batches of any size', () => {
    const once = hutchinsonTrace(operator, { matvecs: 30, seed: 3 });
    expect(hutchinsonTrace(operator, { matvecs: 30, seed: 3 })).toEqual(once);
    expect(hutchinsonTrace(operator, { matvecs: 30, generator: new Generator(3) })).toEqual(once);
    expect(hutchinsonTrace(operator, { matvecs: 30, seed: 4 }).estimate).not.toBe(once.estimate);
    const generator = new Generator(3);
    hutchinsonTrace(operator, { matvecs: 30, generator });
    expect(hutchinsonTrace(operator, { matvecs: 30, generator }).estimate).not.toBe(once.estimate);
    const batched = hutchinsonTrace(operator, { matvecs: 30, seed: 3, batchSize: 7 });
    expect(within(batched.estimate, trace(a), batched.standardError)).toBe(true);
  });

  it('refuses unknown options, a seed with a generator, and too few samples', () => {
    expect(() => hutchinsonTrace(operator, { matvecs: 10, sampels: 3 } as never)).toThrow("hutchinsonTrace: unknown option 'sampels'");
    expect(() => hutchinsonTrace(operator, { matvecs: 10, seed: 1, generator: new Generator() })).toThrow('hutchinsonTrace: give either seed or generator, not both');
    expect(() => hutchinsonTrace(operator, { matvecs: 1 })).toThrow('hutchinsonTrace: matvecs must be an integer of at least 2 (two samples give a standard error), got 1');
    expect(() => hutchinsonTrace(operator, { matvecs: 10, distribution: 'uniform' as never })).toThrow("distribution must be 'rademacher' or 'gaussian', got 'uniform'");
  });

  it('runs on a float32 operator', () => {
    const { estimate, standardError } = hutchinsonTrace(operatorOf(a, 'float32'), { matvecs: 500, seed: 2 });
    expect(within(estimate, trace(a), standardError)).toBe(true);
  });
});

describe('hutchPlusPlusTrace', () => {
  // Low rank plus noise: 8 eigenvalues of order 100 and 92 of order 0.1.
  const n = 100;
  const spectrum = Array.from({ length: n }, (_, i) => (i < 8 ? 100 / (i + 1) : 0.1 * Math.cos(i)));
  const a = withSpectrum(spectrum, 5);
  const operator = operatorOf(a);
  const exact = spectrum.reduce((s, x) => s + x, 0);

  it('is within 4 standard errors of the trace and beats Hutchinson at an equal budget of 60 products', () => {
    const seeds = Array.from({ length: 10 }, (_, i) => 200 + i);
    const plus = seeds.map((seed) => hutchPlusPlusTrace(operator, { matvecs: 60, seed }));
    const plain = seeds.map((seed) => hutchinsonTrace(operator, { matvecs: 60, seed }));
    plus.forEach((r) => {
      expect(r.matvecs).toBe(60);
      expect(within(r.estimate, exact, r.standardError)).toBe(true);
    });
    const meanError = (runs: { estimate: number }[]) => runs.reduce((s, r) => s + Math.abs(r.estimate - exact), 0) / runs.length;
    // The sketch of 20 columns captures the 8 large eigenvalues; what remains has a Frobenius norm ~180x
    // smaller (0.7 against 124), probed by a third of the budget: about 100x less error expected, 20x asked.
    expect(meanError(plus)).toBeLessThan(meanError(plain) / 20);
  });

  it('fails the check when biased by 5 standard errors', () => {
    const r = hutchPlusPlusTrace(operator, { matvecs: 60, seed: 9 });
    expect(within(r.estimate, exact, r.standardError)).toBe(true);
    expect(within(r.estimate + 5 * r.standardError, exact, r.standardError)).toBe(false);
  });

  it('refuses a budget below 4 and unknown options', () => {
    expect(() => hutchPlusPlusTrace(operator, { matvecs: 3 })).toThrow('hutchPlusPlusTrace: matvecs must be an integer of at least 4');
    expect(() => hutchPlusPlusTrace(operator, { matvecs: 9, batchSize: 3 } as never)).toThrow("hutchPlusPlusTrace: unknown option 'batchSize'");
  });
});

describe('hutchinsonDiagonal', () => {
  const a = randomSymmetric(30, 11);
  const operator = operatorOf(a);
  const matvecs = 3000;

  it('estimates every diagonal entry within 4 standard errors, with the theoretical standard error Σ_{j≠i} A_ij² / K', () => {
    const { estimate, standardError, matvecs: spent } = hutchinsonDiagonal(operator, { matvecs, seed: 1 });
    expect(spent).toBe(matvecs);
    expect(estimate.shape).toEqual([30]);
    const est = Array.from(estimate.toArray());
    const se = Array.from(standardError.toArray());
    a.forEach((row, i) => {
      expect(within(est[i]!, row[i]!, se[i]!)).toBe(true);
      const variance = row.reduce((s, x, j) => s + (j === i ? 0 : x * x), 0);
      expect(Math.abs(se[i]! / Math.sqrt(variance / matvecs) - 1)).toBeLessThan(0.1);
    });
    // Biased by 5 standard errors, most entries fail (each passes with probability 0.16).
    const biasedPasses = a.filter((row, i) => within(est[i]! + 5 * se[i]!, row[i]!, se[i]!)).length;
    expect(biasedPasses).toBeLessThanOrEqual(10);
  });

  it('is exact on a diagonal matrix and returns tensors of the operator dtype', () => {
    const d = [2, -3, 5].map((x, i, all) => all.map((_, j) => (i === j ? x : 0)));
    const { estimate, standardError } = hutchinsonDiagonal(operatorOf(d, 'float32'), { matvecs: 4, seed: 0 });
    expect(estimate.dtype).toBe('float32');
    expect(Array.from(estimate.toArray())).toEqual([2, -3, 5]);
    expect(Array.from(standardError.toArray())).toEqual([0, 0, 0]);
  });
});
