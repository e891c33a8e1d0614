import { describe, expect, it } from 'vitest';
import { main } from '../../use-cases/gradient-of-variance.js';
import { expectClose, numbers, oneAtATimeGradients } from './brute-force.js';

/** Σ_d of the biased variance over the samples of `perSample[parameter][sample][d]`. */
function totalVariance(perSample: readonly (readonly (readonly number[])[])[]): number {
  let total = 0;
  for (const samples of perSample) {
    const n = samples.length;
    for (let d = 0; d < samples[0]!.length; d++) {
      const mean = samples.reduce((a, g) => a + g[d]!, 0) / n;
      total += samples.reduce((a, g) => a + (g[d]! - mean) ** 2, 0) / n;
    }
  }
  return total;
}

describe('use case: gradient-of-variance', () => {
  it("gives the total variance of one-sample-at-a-time gradients, and its gradient as autograd's (and finite differences')", () => {
    const n = 4;
    const { problems, backpack, autograd } = main(['--backend', 'cpu', '--batch-size', String(n)], () => undefined);
    expect(problems.map((p) => p.name)).toEqual(['linear model, random data, MSE', 'linear classifier, MNIST', 'CNN, MNIST']);
    problems.forEach((problem, i) => {
      const perSample = oneAtATimeGradients(problem.model, (o, t) => problem.lossFunction.forward(o, t), problem.input, problem.target);
      const expected = totalVariance(perSample);
      expect(Math.abs(backpack[i]!.totalVariance - expected), problem.name).toBeLessThanOrEqual(1e-10 * expected);
      backpack[i]!.gradient.forEach((g, j) => expectClose(numbers(g), numbers(autograd[i]!.gradient[j]!), 1e-10, `${problem.name}, parameter ${j}`));
    });

    // The linear model y = w·x, loss Σ_n (w·x_n - t_n)²: per-sample gradients 2 (w·x_n - t_n) x_n in plain
    // JavaScript, the total variance's gradient by central differences.
    const { model, input, target } = problems[0]!;
    const [x, t, w] = [numbers(input), numbers(target), numbers(model.parameters()[0]!.data)];
    const varianceAt = (weight: readonly number[]) =>
      totalVariance([t.map((tn, s) => [0, 1].map((d) => 2 * (weight[0]! * x[2 * s]! + weight[1]! * x[2 * s + 1]! - tn) * x[2 * s + d]!))]);
    expect(Math.abs(varianceAt(w) - backpack[0]!.totalVariance)).toBeLessThanOrEqual(1e-12 * varianceAt(w));
    const h = 1e-5;
    const differences = [0, 1].map((d) => (varianceAt(w.map((v, e) => (e === d ? v + h : v))) - varianceAt(w.map((v, e) => (e === d ? v - h : v)))) / (2 * h));
    // The variance is quadratic in w: central differences are exact up to rounding (~1e-16 / h).
    expectClose(numbers(backpack[0]!.gradient[0]!), differences, 1e-8, 'finite differences');
  });
});
