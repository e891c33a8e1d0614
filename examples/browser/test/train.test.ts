/**
 * The page's computations in Node, on backend-cpu in float64: the DP-SGD
 * step does what its documentation says (clipping, noise, update), and the
 * curvature images are the first layer's diagonals summed over hidden units.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { histogram } from '../src/histogram.js';
import { DpSgdTrainer, type DpSgdOptions } from '../src/train.js';

const base: DpSgdOptions = {
  backend: cpu,
  dtype: 'float64',
  batchSize: 16,
  clipNorm: 1,
  noiseMultiplier: 0,
  learningRate: 0.3,
  hidden: 8,
  activation: 'relu',
  seed: 4,
};

/** The parameters' values, flattened. */
const values = (trainer: DpSgdTrainer) => trainer.model.parameters().map((p) => Float64Array.from(p.data.toArray()));

describe('histogram', () => {
  it('counts values in equal bins over [0, upper], the upper end in the last bin', () => {
    expect(histogram([0, 0.2, 0.5, 0.99, 1], 4, 1)).toEqual({ edges: [0, 0.25, 0.5, 0.75, 1], counts: [2, 0, 1, 2] });
  });

  it('rejects values outside the range and bad bins', () => {
    expect(() => histogram([1.5], 4, 1)).toThrow('histogram: value 1.5 is outside [0, 1]');
    expect(() => histogram([NaN], 4, 1)).toThrow(/value NaN is outside/);
    expect(() => histogram([], 0, 1)).toThrow('histogram: bins must be a positive integer, got 0');
    expect(() => histogram([], 2, 0)).toThrow(/upper end must be a finite number > 0/);
  });
});

describe('DpSgdTrainer', () => {
  it('clips every per-sample gradient to C and steps by -lr/B times their sum (no noise)', () => {
    const trainer = new DpSgdTrainer(base);
    const before = values(trainer);
    const { normsBefore, normsAfter, loss, step } = trainer.train();
    expect(step).toBe(1);
    expect(loss).toBeGreaterThan(2);
    expect(normsBefore).toHaveLength(16);

    const parameters = trainer.model.parameters();
    const perSample = parameters.map((p) => Float64Array.from(p.gradBatch!.toArray()));
    for (let n = 0; n < 16; n++) {
      // BatchL2Grad's norms are those of BatchGrad's per-sample gradients (a summed loss: no 1/N).
      const squared = perSample.reduce((total, g) => {
        const size = g.length / 16;
        return total + g.subarray(n * size, (n + 1) * size).reduce((a, v) => a + v * v, 0);
      }, 0);
      expect(normsBefore[n]).toBeCloseTo(Math.sqrt(squared), 10);
      expect(normsAfter[n]).toBeCloseTo(Math.min(normsBefore[n]!, 1), 10);
      expect(normsAfter[n]).toBeLessThanOrEqual(1);
    }
    expect(normsBefore.some((norm) => norm > 1)).toBe(true);

    parameters.forEach((parameter, i) => {
      const g = perSample[i]!;
      const size = g.length / 16;
      const after = parameter.data.toArray();
      for (let k = 0; k < size; k++) {
        let clippedSum = 0;
        for (let n = 0; n < 16; n++) clippedSum += g[n * size + k]! * Math.min(1, 1 / normsBefore[n]!);
        expect(after[k]).toBeCloseTo(before[i]![k]! - (0.3 / 16) * clippedSum, 12);
      }
    });
  });

  it('adds Gaussian noise of standard deviation σ·C per coordinate to the clipped sum', () => {
    const options = { ...base, hidden: 32, clipNorm: 0.5, noiseMultiplier: 2 };
    const quiet = new DpSgdTrainer({ ...options, noiseMultiplier: 0 });
    const noisy = new DpSgdTrainer(options);
    quiet.train();
    noisy.train();
    // Same seed, same start and batch: the parameters differ by -lr/B times the noise.
    const reference = values(quiet);
    const differences = values(noisy).flatMap((v, i) => Array.from(v, (x, k) => (x - reference[i]![k]!) / (-0.3 / 16)));
    const mean = differences.reduce((a, b) => a + b, 0) / differences.length;
    const std = Math.sqrt(differences.reduce((a, b) => a + (b - mean) ** 2, 0) / differences.length);
    expect(differences.length).toBe(784 * 32 + 32 + 32 * 10 + 10);
    expect(Math.abs(mean)).toBeLessThan(0.03); // σ·C / sqrt(25,450) = 0.006
    expect(std / (2 * 0.5)).toBeCloseTo(1, 1);
  });

  it('walks through the digits batch by batch and lowers the loss', () => {
    const trainer = new DpSgdTrainer({ ...base, batchSize: 32, hidden: 32, noiseMultiplier: 1 });
    const losses = Array.from({ length: 30 }, () => trainer.train().loss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(0.75 * mean(losses.slice(0, 5)));
  });

  it('gives the first layer curvature per input pixel: Hessian = GGN with ReLU, not with Tanh', () => {
    for (const activation of ['relu', 'tanh'] as const) {
      const trainer = new DpSgdTrainer({ ...base, activation });
      trainer.train();
      const { ggn, hessian } = trainer.curvature();
      const weight = trainer.first.weight;
      const diagonal = Float64Array.from(weight.diagGgnExact!.toArray());
      // Σ over the 8 hidden units of the [8, 784] diagonal.
      for (const p of [0, 300, 783]) {
        expect(ggn[p]).toBeCloseTo(Array.from({ length: 8 }, (_, j) => diagonal[j * 784 + p]!).reduce((a, b) => a + b), 12);
      }
      expect(ggn).toHaveLength(784);
      expect(ggn.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
      const largestGap = Math.max(...ggn.map((v, p) => Math.abs(v - hessian[p]!))) / Math.max(...ggn);
      if (activation === 'relu') expect(largestGap).toBeLessThan(1e-12);
      else expect(largestGap).toBeGreaterThan(1e-3);
    }
  });

  it('dispose frees every tensor on the parameters and leaves their other fields alone, as the page does between runs', () => {
    const trainer = new DpSgdTrainer(base);
    trainer.train();
    trainer.curvature();
    const parameters = trainer.model.parameters();
    // Besides tensors a parameter holds core's version counter (a number): dispose must pass over it.
    expect(parameters.map((p) => p.version)).toEqual([1, 1, 1, 1]);
    const tensors = parameters.flatMap((p) => Object.values(p).filter((value): value is Tensor => value instanceof Tensor));
    // data, grad, gradBatch, batchL2, diagGgnExact, diagH of each of the 4 parameters.
    expect(tensors).toHaveLength(4 * 6);
    expect(() => trainer.dispose()).not.toThrow();
    expect(tensors.filter((t) => !t.isDisposed)).toEqual([]);
    // The page then trains a new model with the same seed.
    expect(new DpSgdTrainer(base).train().step).toBe(1);
  });

  it('rejects bad options, naming them', () => {
    expect(() => new DpSgdTrainer({ ...base, batchSize: 0 })).toThrow('batch size must be a positive integer, got 0');
    expect(() => new DpSgdTrainer({ ...base, clipNorm: 0 })).toThrow('clipping norm C must be a finite number > 0, got 0');
    expect(() => new DpSgdTrainer({ ...base, noiseMultiplier: -1 })).toThrow('noise multiplier σ must be a finite number >= 0, got -1');
    expect(() => new DpSgdTrainer({ ...base, learningRate: NaN })).toThrow(/learning rate must be a finite number > 0/);
  });
});
