/**
 * Variance takes a different path per dtype (see `varianceRule` in
 * src/module-rules.ts): float64 uses the reference's
 * `SumGradSquared / N - (grad / N)²`; float32 evaluates that formula in
 * float64 for Linear layers when the backend stores float64, and otherwise
 * centres every per-sample gradient before squaring. The batches here have
 * nearly identical samples (per-sample gradients ~1e3 times their spread),
 * where the formulas differ visibly: the float64 result is the reference's
 * formula evaluated on the package's own SumGradSquared and `.grad`, the
 * centred float32 result is the centred variance of the package's own
 * per-sample gradients, and a float32 Linear layer matches the exact
 * variance of its own per-sample gradients.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Conv1d,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  Sequential,
  Tanh,
  backpack,
  extend,
  tensor,
  type Backend,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchGrad, SumGradSquared, Variance } from '../src/index.js';
import { relativeError } from './helpers/brute-force.js';

const N = 6;

/** backend-cpu without float64, as tfjs: float32 Variance cannot evaluate the formula in float64 there. */
const cpuWithoutFloat64: Backend = Object.create(cpu, {
  name: { value: 'cpu-without-float64' },
  dtypes: { value: ['float32', 'int32'] },
}) as Backend;

function run(dtype: 'float32' | 'float64', backend: Backend = cpu) {
  const options = { backend, dtype };
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

/** `(1/n) Σ_n g_n` in float64 from per-sample gradients `[n, size]`. */
function perSampleMeans(gradBatch: Float64Array, n: number): Float64Array {
  const size = gradBatch.length / n;
  const mean = new Float64Array(size);
  for (let i = 0; i < gradBatch.length; i++) mean[i % size]! += gradBatch[i]! / n;
  return mean;
}

/** `(1/n) Σ_n (g_n - ḡ)²` in float64 from per-sample gradients `[n, size]`. */
function centred(gradBatch: Float64Array, n = N): Float64Array {
  const size = gradBatch.length / n;
  const mean = perSampleMeans(gradBatch, n);
  const variance = new Float64Array(size);
  for (let i = 0; i < gradBatch.length; i++) variance[i % size]! += (gradBatch[i]! - mean[i % size]!) ** 2 / n;
  return variance;
}

describe('Variance: which formula, by dtype', () => {
  it('float64 is SumGradSquared / N - (grad / N)², not the centred sum', () => {
    for (const p of run('float64')) {
      const formula = referenceFormula(p.sumGradSquared, p.grad);
      expect(relativeError(p.variance, formula), p.name).toBeLessThanOrEqual(1e-15);
      // The centred definition differs by the cancellation (~eps · mean² / variance), so this is the other path.
      expect(relativeError(p.variance, centred(p.gradBatch)), p.name).toBeGreaterThan(1e-13);
    }
  });

  it('float32 on a backend without float64 is the centred sum of the per-sample gradients, not the cancelling formula', () => {
    for (const p of run('float32', cpuWithoutFloat64)) {
      expect(relativeError(p.variance, centred(p.gradBatch)), p.name).toBeLessThanOrEqual(1e-5);
      expect(relativeError(referenceFormula(p.sumGradSquared, p.grad), centred(p.gradBatch)), p.name).toBeGreaterThan(1e-3);
    }
  });

  it('float32 on a backend with float64 still centres the convolution (its float64 rule is chunked too)', () => {
    for (const p of run('float32').filter((q) => q.name.startsWith('0.'))) {
      expect(relativeError(p.variance, centred(p.gradBatch)), p.name).toBeLessThanOrEqual(1e-5);
      expect(relativeError(referenceFormula(p.sumGradSquared, p.grad), centred(p.gradBatch)), p.name).toBeGreaterThan(1e-3);
    }
  });
});

describe('Variance of a float32 Linear layer: the formula in float64', () => {
  const [batch, inFeatures, outFeatures] = [64, 5, 3];

  /**
   * One Linear layer on inputs 100 + 0.05 · noise with one target for every
   * sample: per-sample gradients ~1.8e3 times their spread, where the formula
   * evaluated in float32 is 0.2-0.5 off (relative to the largest entry).
   * Returns the float32 results and the inputs.
   */
  function runLinear() {
    const options = { backend: cpu, dtype: 'float32' as const };
    const g = new Generator(11);
    const model = new Linear(inFeatures, outFeatures, { ...options, generator: g });
    const loss = new MSELoss('mean');
    const inputData = Float32Array.from({ length: batch * inFeatures }, () => 100 + 0.05 * (2 * g.nextUniform() - 1));
    const input = tensor(Array.from(inputData), [batch, inFeatures], options);
    const target = tensor(Array.from({ length: batch * outFeatures }, (_, i) => [5, -5, 2][i % outFeatures]!), [batch, outFeatures], options);
    extend(model);
    extend(loss);
    backpack([new Variance(), new BatchGrad()], () => loss.forward(model.forward(input), target).backward());
    const read = (t: Tensor | undefined) => Float64Array.from(t!.toArray());
    return {
      input: Float64Array.from(inputData),
      weight: { variance: read(model.weight.variance), gradBatch: read(model.weight.gradBatch) },
      bias: { variance: read(model.bias!.variance), gradBatch: read(model.bias!.gradBatch) },
    };
  }

  it('matches the variance of its own per-sample gradients, computed exactly in float64, to 1e-4', () => {
    const { input, weight, bias } = runLinear();
    // The bias's per-sample gradient is the output gradient g_n itself; the
    // weight's, g_n x_nᵀ, is exact in float64 (a product of two float32 numbers).
    const outputGradient = bias.gradBatch;
    const weightPerSample = new Float64Array(batch * outFeatures * inFeatures);
    for (let n = 0; n < batch; n++) {
      for (let o = 0; o < outFeatures; o++) {
        for (let i = 0; i < inFeatures; i++) {
          weightPerSample[(n * outFeatures + o) * inFeatures + i] = outputGradient[n * outFeatures + o]! * input[n * inFeatures + i]!;
        }
      }
    }
    // The package's per-sample gradients are these, rounded to float32.
    expect(relativeError(weight.gradBatch, weightPerSample)).toBeLessThanOrEqual(1e-7);
    const centredOver = (perSample: Float64Array) => centred(perSample, batch);
    // Gradients over 1e3 times their spread: the formula in float32 would lose every digit.
    const mean = perSampleMeans(weightPerSample, batch);
    const largestMean = Math.max(...mean.map(Math.abs));
    const largestStd = Math.sqrt(Math.max(...centredOver(weightPerSample)));
    expect(largestMean / largestStd).toBeGreaterThan(1e3);
    expect(relativeError(weight.variance, centredOver(weightPerSample))).toBeLessThanOrEqual(1e-4);
    expect(relativeError(bias.variance, centredOver(outputGradient))).toBeLessThanOrEqual(1e-4);
  });
});
