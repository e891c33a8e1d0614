/**
 * Lanczos extreme eigenvalues against linalg.eigh of the dense matrix and
 * against spectra built by hand: values to 1e-8 of the largest, Ritz vectors
 * with small residuals, repeated eigenvalues with their multiplicity, and
 * the non-convergence error.
 */
import { linalg } from '@backpack-ts/core';
import { lanczosEigenvalues } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { operatorOf, product, toTensor, withSpectrum, type Matrix } from './helpers/symmetric-matrices.js';

function exactSpectrum(a: Matrix): number[] {
  const { eigenvalues, eigenvectors } = linalg.eigh(toTensor(a));
  eigenvectors.dispose();
  return Array.from(eigenvalues.toArray());
}

describe('lanczosEigenvalues', () => {
  // Well separated at both ends, a bulk in the middle.
  const n = 80;
  const spectrum = Array.from({ length: n }, (_, i) => (i < 3 ? [50, 30, 20][i]! : i > n - 4 ? [-40, -25, -15][n - 1 - i]! : Math.sin(i)));
  const a = withSpectrum(spectrum, 3);
  const exact = exactSpectrum(a);
  const scale = 50;

  it('finds the 3 largest and the 3 smallest eigenvalues of eigh to 1e-8 of the largest', () => {
    const largest = lanczosEigenvalues(operatorOf(a), { k: 3, which: 'largest', seed: 0 });
    const smallest = lanczosEigenvalues(operatorOf(a), { k: 3, which: 'smallest', seed: 0 });
    expect(largest.converged).toBe(true);
    expect(largest.iterations).toBeLessThan(n);
    largest.eigenvalues.forEach((x, i) => expect(Math.abs(x - exact[n - 3 + i]!)).toBeLessThan(1e-8 * scale));
    smallest.eigenvalues.forEach((x, i) => expect(Math.abs(x - exact[i]!)).toBeLessThan(1e-8 * scale));
    // eigh of the dense matrix agrees with the spectrum it was built from.
    expect(exact.slice(-3).map((x) => Number(x.toFixed(10)))).toEqual([20, 30, 50]);
  });

  it('returns unit Ritz vectors with small residuals A y − θ y, parallel to eigh eigenvectors', () => {
    const { eigenvalues, eigenvectors, residualNorms } = lanczosEigenvalues(operatorOf(a), { k: 2, seed: 1, returnEigenvectors: true });
    expect(eigenvectors!.shape).toEqual([n, 2]);
    const y = Array.from(eigenvectors!.toArray());
    const exactVectors = Array.from(linalg.eigh(toTensor(a)).eigenvectors.toArray());
    eigenvalues.forEach((theta, c) => {
      const v = Array.from({ length: n }, (_, i) => [y[i * 2 + c]!]);
      const av = product(a, v);
      const residual = Math.hypot(...av.map(([x], i) => x! - theta * v[i]![0]!));
      expect(residual).toBeLessThan(1e-10 * scale);
      expect(residual).toBeCloseTo(residualNorms[c]!, 8);
      expect(Math.hypot(...v.map(([x]) => x!))).toBeCloseTo(1, 12);
      const overlap = v.reduce((s, [x], i) => s + x! * exactVectors[i * n + n - 2 + c]!, 0);
      expect(Math.abs(overlap)).toBeCloseTo(1, 10);
    });
  });

  it('finds the whole spectrum with multiplicities in n steps (restarting at each invariant subspace)', () => {
    const repeated = [4, 4, 4, 1, 1, -2, 0, 0, 0, 0];
    const { eigenvalues, iterations, converged } = lanczosEigenvalues(operatorOf(withSpectrum(repeated, 8)), { k: 10, seed: 2 });
    expect(converged).toBe(true);
    expect(iterations).toBe(10);
    const expected = [...repeated].sort((x, y) => x - y);
    eigenvalues.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 12));
  });

  it('throws, or returns converged: false, when maxIterations is too small for the tolerance', () => {
    const slow = withSpectrum(Array.from({ length: 60 }, (_, i) => 1 + i / 60), 4);
    expect(() => lanczosEigenvalues(operatorOf(slow), { k: 1, maxIterations: 5, seed: 0 })).toThrow(
      /lanczosEigenvalues: the 1 largest eigenvalues did not converge in 5 steps \(residuals .*\); raise maxIterations or tolerance, or pass onNonConvergence: 'return'/,
    );
    const result = lanczosEigenvalues(operatorOf(slow), { k: 1, maxIterations: 5, seed: 0, onNonConvergence: 'return' });
    expect(result.converged).toBe(false);
    expect(result.iterations).toBe(5);
  });

  it('converges on a float32 operator to its default tolerance 1e-5', () => {
    const result = lanczosEigenvalues(operatorOf(a, 'float32'), { k: 1, seed: 0 });
    expect(result.converged).toBe(true);
    expect(Math.abs(result.eigenvalues[0]! - exact[n - 1]!)).toBeLessThan(1e-5 * scale);
  });

  it('refuses bad options', () => {
    const op = operatorOf(a);
    expect(() => lanczosEigenvalues(op, { k: 81 })).toThrow('lanczosEigenvalues: k = 81 eigenvalues asked of an operator of size 80');
    expect(() => lanczosEigenvalues(op, { which: 'middle' as never })).toThrow("which must be 'largest' or 'smallest', got 'middle'");
    expect(() => lanczosEigenvalues(op, { kk: 2 } as never)).toThrow("lanczosEigenvalues: unknown option 'kk'");
  });
});
