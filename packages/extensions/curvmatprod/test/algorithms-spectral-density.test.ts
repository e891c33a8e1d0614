/**
 * Stochastic Lanczos quadrature against dense matrices: weights sum to 1,
 * the broadened density integrates to 1, the quadrature's moments estimate
 * trace(A^k)/n within 4 standard errors (and a biased value fails), and a
 * matrix with few distinct eigenvalues gives exactly those as nodes.
 */
import { gaussianSpectralDensity, stochasticLanczosQuadrature } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { operatorOf, product, randomSymmetric, trace, withSpectrum } from './helpers/symmetric-matrices.js';

function standardError(samples: number[]): { mean: number; se: number } {
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  const variance = samples.reduce((s, x) => s + (x - mean) ** 2, 0) / (samples.length - 1);
  return { mean, se: Math.sqrt(variance / samples.length) };
}

describe('stochasticLanczosQuadrature', () => {
  const n = 50;
  const a = randomSymmetric(n, 21).map((row) => row.map((x) => x / Math.sqrt(n)));
  const quadrature = stochasticLanczosQuadrature(operatorOf(a), { probes: 200, steps: 10, seed: 3 });

  it('gives one rule per probe, with weights summing to 1', () => {
    expect(quadrature.nodes).toHaveLength(200);
    expect(quadrature.size).toBe(n);
    quadrature.weights.forEach((w, p) => {
      expect(w).toHaveLength(10);
      expect(quadrature.nodes[p]).toHaveLength(10);
      expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 13);
    });
  });

  it('has moments Σ w θ^k that estimate trace(A^k)/n within 4 standard errors, and a biased value fails', () => {
    let power = a;
    for (let k = 1; k <= 4; k++) {
      if (k > 1) power = product(power, a);
      const exact = trace(power) / n;
      const { mean, se } = standardError(quadrature.nodes.map((nodes, p) => nodes.reduce((s, x, j) => s + quadrature.weights[p]![j]! * x ** k, 0)));
      expect(Math.abs(mean - exact)).toBeLessThan(4 * se);
      // Biased by 8 standard errors, the same check fails unless the z-score is below -4.
      expect(Math.abs(mean + 8 * se - exact)).toBeGreaterThanOrEqual(4 * se);
    }
  });

  it('broadens to a density that integrates to 1 and whose mean is the first moment', () => {
    const grid = Array.from({ length: 4001 }, (_, i) => -6 + (12 * i) / 4000);
    const density = gaussianSpectralDensity(quadrature, grid, { width: 0.05 });
    const h = grid[1]! - grid[0]!;
    const integral = density.reduce((s, x) => s + x * h, 0);
    expect(integral).toBeCloseTo(1, 10);
    const mean = density.reduce((s, x, i) => s + x * grid[i]! * h, 0);
    const firstMoment = quadrature.nodes.reduce((s, nodes, p) => s + nodes.reduce((t, x, j) => t + quadrature.weights[p]![j]! * x, 0), 0) / 200;
    expect(mean).toBeCloseTo(firstMoment, 10);
  });

  it('stops early on a matrix with 3 distinct eigenvalues, whose nodes are then those eigenvalues', () => {
    const spectrum = Array.from({ length: 30 }, (_, i) => [-1, 2, 5][i % 3]!);
    const result = stochasticLanczosQuadrature(operatorOf(withSpectrum(spectrum, 6)), { probes: 3, steps: 10, seed: 1, distribution: 'gaussian' });
    result.nodes.forEach((nodes) => {
      expect(nodes).toHaveLength(3);
      nodes.forEach((x, i) => expect(x).toBeCloseTo([-1, 2, 5][i]!, 10));
    });
  });

  it('refuses bad options', () => {
    expect(() => stochasticLanczosQuadrature(operatorOf(a), { steps: 51 })).toThrow("stochasticLanczosQuadrature: steps = 51 exceeds the operator's size 50");
    expect(() => stochasticLanczosQuadrature(operatorOf(a), { iterations: 5 } as never)).toThrow("stochasticLanczosQuadrature: unknown option 'iterations'");
    expect(() => gaussianSpectralDensity(quadrature, [0], { width: 0 })).toThrow('gaussianSpectralDensity: width must be > 0');
  });
});
