import { CrossEntropyLoss, concat, grad, reshape, softmax, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/trace-estimation.js';
import { jacobianRows, numbers } from './brute-force.js';

describe('use case: trace-estimation', () => {
  it('gives exact traces equal to the dense Hessian (double backward, row by row) and GGN (Jacobian rows), and estimates within 4 standard errors of them', () => {
    const n = 6;
    const lines: string[] = [];
    const { model, images, labels, reports } = main(['--backend', 'cpu', '--batch-size', String(n), '--hidden', '2', '--matvecs', '40'], (l) => lines.push(l));
    const parameters = model.parameters().map((p) => p.data);
    const lossFunction = new CrossEntropyLoss();

    // Tr(H) = Σ_i H_ii, row i of the Hessian the gradient of gradient entry i (double backward).
    const gradients = grad(lossFunction.forward(model.forward(images), labels), parameters, { createGraph: true });
    const gradient = concat(
      gradients.map((g) => reshape(g!, [g!.size])),
      0,
    );
    let hessianTrace = 0;
    for (let i = 0; i < gradient.size; i++) {
      const unit = tensor(
        Array.from({ length: gradient.size }, (_, k) => (k === i ? 1 : 0)),
        [gradient.size],
        { backend: gradient.backend, dtype: 'float64' },
      );
      const row = grad(gradient, parameters, { gradOutputs: unit, retainGraph: true }).flatMap((r) => numbers(r!));
      hessianTrace += row[i]!;
    }

    // Tr(GGN) = Σ_n Σ_ab H_n[a, b] (J_na · J_nb), J_na the row of logit a of sample n, H_n = (diag(p_n) − p_n p_nᵀ) / N.
    const logits = model.forward(images);
    const jacobian = jacobianRows(model, logits);
    const p = numbers(softmax(logits, -1));
    let ggnTrace = 0;
    for (let s = 0; s < n; s++) {
      for (let a = 0; a < 10; a++) {
        for (let b = 0; b < 10; b++) {
          const h = ((a === b ? p[s * 10 + a]! : 0) - p[s * 10 + a]! * p[s * 10 + b]!) / n;
          ggnTrace += h * jacobian[s * 10 + a]!.reduce((acc, v, k) => acc + v * jacobian[s * 10 + b]![k]!, 0);
        }
      }
    }

    const [hessian, ggn] = reports;
    expect(hessian!.curvature).toBe('Hessian');
    expect(Math.abs(hessian!.exact - hessianTrace)).toBeLessThanOrEqual(1e-10 * Math.abs(hessianTrace));
    expect(Math.abs(ggn!.exact - ggnTrace)).toBeLessThanOrEqual(1e-10 * ggnTrace);
    // The sigmoid's residual makes the two differ.
    expect(Math.abs(hessianTrace - ggnTrace)).toBeGreaterThan(0.01 * ggnTrace);

    for (const { curvature, exact, estimates } of reports) {
      expect(estimates.map((e) => e.method.split(',')[0])).toEqual(['Hutchinson', 'Hutch++', 'Hutchinson']);
      for (const e of estimates) {
        expect(e.standardError, `${curvature}, ${e.method}`).toBeGreaterThan(0);
        // An informative error bar, not one wide enough to hold any estimate.
        expect(e.standardError, `${curvature}, ${e.method}`).toBeLessThan(0.25 * Math.abs(exact));
        expect(Math.abs(e.estimate - exact), `${curvature}, ${e.method}: ${e.estimate} ± ${e.standardError} vs ${exact}`).toBeLessThanOrEqual(4 * e.standardError);
      }
    }
    expect(lines).toHaveLength(1 + 2 * 4);
  });
});
