/**
 * Variance takes a different path per dtype (see `varianceRule` in
 * src/module-rules.ts): float64 uses the reference's
 * `SumGradSquared / N - (grad / N)²`, float32 centres every per-sample
 * gradient before squaring. The batch here has nearly identical samples
 * (per-sample gradients ~1e3 times their spread), where the two formulas
 * differ visibly: the float64 result is the reference's formula evaluated on
 * the package's own SumGradSquared and `.grad`, the float32 result is the
 * centred variance of the package's own per-sample gradients.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Conv1d, Flatten, Generator, Linear, MSELoss, Sequential, Tanh, backpack, extend, tensor, type Tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchGrad, SumGradSquared, Variance } from '../src/index.js';
import { relativeError } from './helpers/brute-force.js';

const N = 6;

function run(dtype: 'float32' | 'float64') {
  const options = { backend: cpu, dtype };
  const g = new Generator(7);
  // Conv1d (factored rule) and Linear ((g²)ᵀx² rule), both with biases.
  const model = new Sequential(new Conv1d(2, 3, 2, { ...options, generator: g }), new Tanh(), new Flatten(), new Linear(9, 2, { ...options, generator: g }));
  const loss = new MSELoss('sum');
  // Samples 1 + 1e-3 · noise with the same target: per-sample gradients close to their mean.
  const input = tensor(Array.from({ length: N * 2 * 4 }, () => 1 + 1e-3 * (2 * g.nextUniform() - 1)), [N, 2, 4], options);
  const target = tensor(Array.from({ length: N * 2 }, (_, i) => (i % 2 === 0 ? 3 : -3)), [N, 2], options);
  extend(model);
  extend(loss);
  backpack([new Variance(), new SumGradSquared(), new BatchGrad()], () => loss.forward(model.forward(input), target).backward());
  return model.namedParameters().map(([name, p]) => {
    const read = (t: Tensor | undefined) => Float64Array.from(t!.toArray());
    return { name, grad: read(p.grad), variance: read(p.variance), sumGradSquared: read(p.sumGradSquared), gradBatch: read(p.gradBatch) };
  });
}

/** `SGS / N - (grad / N)²`, with the same float64 operations as `varianceFrom`. */
function referenceFormula(sumGradSquared: Float64Array, grad: Float64Array): Float64Array {
  return sumGradSquared.map((s, j) => s / N - (grad[j]! / N) * (grad[j]! / N));
}

/** `(1/N) Σ_n (g_n - ḡ)²` in float64 from per-sample gradients `[N, size]`. */
function centred(gradBatch: Float64Array): Float64Array {
  const size = gradBatch.length / N;
  const mean = new Float64Array(size);
  for (let i = 0; i < gradBatch.length; i++) mean[i % size]! += gradBatch[i]! / N;
  const variance = new Float64Array(size);
  for (let i = 0; i < gradBatch.length; i++) variance[i % size]! += (gradBatch[i]! - mean[i % size]!) ** 2 / N;
  return variance;
}

describe('Variance: one formula per dtype', () => {
  it('float64 is SumGradSquared / N - (grad / N)², not the centred sum', () => {
    for (const p of run('float64')) {
      const formula = referenceFormula(p.sumGradSquared, p.grad);
      expect(relativeError(p.variance, formula), p.name).toBeLessThanOrEqual(1e-15);
      // The centred definition differs by the cancellation (~eps · mean² / variance), so this is the other path.
      expect(relativeError(p.variance, centred(p.gradBatch)), p.name).toBeGreaterThan(1e-13);
    }
  });

  it('float32 is the centred sum of the per-sample gradients, not the cancelling formula', () => {
    for (const p of run('float32')) {
      expect(relativeError(p.variance, centred(p.gradBatch)), p.name).toBeLessThanOrEqual(1e-5);
      expect(relativeError(referenceFormula(p.sumGradSquared, p.grad), centred(p.gradBatch)), p.name).toBeGreaterThan(1e-3);
    }
  });
});
