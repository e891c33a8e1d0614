/**
 * Conjugate gradients against linalg.solve on dense matrices: damped and
 * batched systems solved to tolerance, the reported residuals true ones,
 * a warm start, and the errors for non-convergence and indefinite systems.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Generator, linalg, tensor, type Tensor } from '@backpack-ts/core';
import { conjugateGradient } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { operatorOf, product, toTensor, withSpectrum, type Matrix } from './helpers/symmetric-matrices.js';

const n = 60;
const a = withSpectrum(Array.from({ length: n }, (_, i) => 10 ** (-3 * (i / (n - 1)))), 12); // eigenvalues 1e-3 .. 1
const b = new Generator(4).normal([n, 3], { backend: cpu });
const columns = (x: Tensor, count: number): number[][] => Array.from({ length: count }, (_, c) => Array.from(x.toArray()).filter((_, i) => i % count === c));
const damped = (m: Matrix, damping: number): Matrix => m.map((row, i) => row.map((x, j) => x + (i === j ? damping : 0)));

describe('conjugateGradient', () => {
  it.each([0, 0.01])('solves (A + %s I) X = B for 3 right-hand sides as linalg.solve does', (damping) => {
    const { solution, iterations, residualNorms, converged } = conjugateGradient(operatorOf(a), b, { damping, tolerance: 1e-12 });
    expect(converged).toBe(true);
    expect(solution.shape).toEqual([n, 3]);
    expect(iterations).toBeLessThanOrEqual(10 * n);
    const exact = columns(linalg.solve(toTensor(damped(a, damping)), b), 3);
    const found = columns(solution, 3);
    const bColumns = columns(b, 3);
    found.forEach((x, c) => {
      const error = Math.hypot(...x.map((v, i) => v - exact[c]![i]!)) / Math.hypot(...exact[c]!);
      expect(error).toBeLessThan(1e-8); // condition number 1e3 times the tolerance 1e-12, with room for rounding
      const residual = product(damped(a, damping), x.map((v) => [v])).map(([y], i) => bColumns[c]![i]! - y!);
      const trueNorm = Math.hypot(...residual);
      expect(trueNorm).toBeLessThanOrEqual(2e-12 * Math.hypot(...bColumns[c]!));
      expect(Math.abs(residualNorms[c]! - trueNorm)).toBeLessThan(1e-12 * Math.hypot(...bColumns[c]!));
    });
  });

  it('takes a vector, and a warm start at the solution needs no iteration', () => {
    const vector = tensor(columns(b, 3)[0]!, [n], { backend: cpu });
    const first = conjugateGradient(operatorOf(a), vector, { tolerance: 1e-10, damping: 0.1 });
    expect(first.solution.shape).toEqual([n]);
    const again = conjugateGradient(operatorOf(a), vector, { tolerance: 1e-8, damping: 0.1, x0: first.solution });
    expect(again.iterations).toBe(0);
    expect(Array.from(again.solution.toArray())).toEqual(Array.from(first.solution.toArray()));
  });

  it('throws, or returns converged: false, when maxIterations runs out', () => {
    expect(() => conjugateGradient(operatorOf(a), b, { maxIterations: 3 })).toThrow(
      /conjugateGradient: no convergence in 3 iterations: residual norms .* \(needs .*\); raise maxIterations or damping, or pass onNonConvergence: 'return'/,
    );
    const result = conjugateGradient(operatorOf(a), b, { maxIterations: 3, onNonConvergence: 'return' });
    expect(result.converged).toBe(false);
    expect(result.iterations).toBe(3);
  });

  it('names an indefinite system', () => {
    const indefinite = withSpectrum([2, 1, -1, 3], 1);
    expect(() => conjugateGradient(operatorOf(indefinite), tensor([1, 1, 1, 1], [4], { backend: cpu }))).toThrow(
      /conjugateGradient: A \+ 0·I is not positive definite: the search direction of iteration \d \(right-hand side 0\) has curvature pᵀ\(A \+ λI\)p = -/,
    );
  });

  it('refuses a right-hand side of the wrong size and unknown options', () => {
    expect(() => conjugateGradient(operatorOf(a), tensor([1, 2], [2], { backend: cpu }))).toThrow('conjugateGradient: b must be [60] or [60, K] for an operator of shape [60, 60], got [2]');
    expect(() => conjugateGradient(operatorOf(a), b, { rtol: 1e-3 } as never)).toThrow("conjugateGradient: unknown option 'rtol'");
  });
});
