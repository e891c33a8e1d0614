/**
 * conjugateGradient with onNonPositiveCurvature: 'stop' (truncated
 * Newton-CG) on indefinite diagonal systems whose iterates are known in
 * closed form.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { tensor } from '@backpack-ts/core';
import { conjugateGradient } from '@backpack-ts/curvmatprod';
import { describe, expect, it } from 'vitest';
import { operatorOf } from './helpers/symmetric-matrices.js';

const diagonal = (entries: readonly number[]) => entries.map((d, i) => entries.map((_, j) => (i === j ? d : 0)));

describe('conjugateGradient, onNonPositiveCurvature', () => {
  it("'stop' at the first iteration returns the steepest-descent direction b, with its true residual", () => {
    // b along the eigenvalue -2: bᵀ A b < 0 at once.
    const { solution, iterations, residualNorms, converged, nonPositiveCurvature } = conjugateGradient(operatorOf(diagonal([3, -2])), tensor([0, 1.5], [2], { backend: cpu }), {
      onNonPositiveCurvature: 'stop',
    });
    expect(Array.from(solution.toArray())).toEqual([0, 1.5]);
    expect(iterations).toBe(1);
    expect(converged).toBe(false);
    expect(nonPositiveCurvature).toEqual([true]);
    // r = b − A b = [0, 1.5 + 3].
    expect(residualNorms[0]).toBeCloseTo(4.5, 14);
  });

  it("'stop' later keeps the iterate so far: in 2-D, after one step α b with α = bᵀb / bᵀAb", () => {
    // A = diag(1, -5), b = [1, 0.1]: bᵀAb = 0.95 > 0; the next direction is A-conjugate to b, so (inertia) of negative curvature.
    const b = [1, 0.1];
    const alpha = (1 + 0.01) / (1 - 0.05);
    const result = conjugateGradient(operatorOf(diagonal([1, -5])), tensor(b, [2], { backend: cpu }), { onNonPositiveCurvature: 'stop', tolerance: 1e-12 });
    const x = Array.from(result.solution.toArray());
    x.forEach((v, i) => expect(Math.abs(v - alpha * b[i]!)).toBeLessThanOrEqual(1e-15 * alpha));
    expect(result.iterations).toBe(2);
    expect(result.nonPositiveCurvature).toEqual([true]);
    // The residual b − A x of that iterate.
    expect(Math.abs(result.residualNorms[0]! - Math.hypot(1 - alpha, 0.1 + 5 * alpha * 0.1))).toBeLessThanOrEqual(1e-14);
  });

  it('stops only the right-hand side that met negative curvature; the others converge', () => {
    const a = diagonal([3, -2]);
    const result = conjugateGradient(operatorOf(a), tensor([0, 1, 2, 0], [2, 2], { backend: cpu }), { onNonPositiveCurvature: 'stop', tolerance: 1e-12 });
    expect(result.nonPositiveCurvature).toEqual([true, false]);
    // B = [[0, 1], [2, 0]]: column 0 = [0, 2] meets the eigenvalue -2 at once (x = b), column 1 = [1, 0] is solved, [1/3, 0].
    expect(Array.from(result.solution.toArray())).toEqual([0, 1 / 3, 2, 0]);
    expect(result.converged).toBe(false);
  });

  it('throws by default, and refuses an unknown mode', () => {
    const b = tensor([0, 1], [2], { backend: cpu });
    expect(() => conjugateGradient(operatorOf(diagonal([3, -2])), b)).toThrow('conjugateGradient: A + 0·I is not positive definite');
    expect(() => conjugateGradient(operatorOf(diagonal([3, -2])), b, { onNonPositiveCurvature: 'skip' as 'stop' })).toThrow(
      "conjugateGradient: onNonPositiveCurvature must be 'throw' or 'stop', got 'skip'",
    );
  });
});
