/**
 * The seeded generator: reproducible streams, and uniform and normal samples
 * whose statistics match their distributions within 5 standard errors.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import { Generator, defaultGenerator, manualSeed } from '@backpack-ts/core';
import { values } from './helpers/tensors.js';

const on = { backend: cpu };
/** Samples per statistical check: the tolerances below shrink as 1/sqrt(SAMPLES). */
const SAMPLES = 200_000;

function meanAndVariance(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe('Generator', () => {
  it('the same seed gives the same numbers', () => {
    const [a, b] = [new Generator(42), new Generator(42)];
    expect(Array.from({ length: 8 }, () => a.nextUint32())).toEqual(Array.from({ length: 8 }, () => b.nextUint32()));
    expect(values(a.uniform([3, 4], on))).toEqual(values(b.uniform([3, 4], on)));
    expect(values(a.normal([5], on))).toEqual(values(b.normal([5], on)));
  });

  it('different seeds give different numbers', () => {
    expect(values(new Generator(1).uniform([8], on))).not.toEqual(values(new Generator(2).uniform([8], on)));
  });

  it('manualSeed restarts the stream, including a pending normal number', () => {
    const g = new Generator(3);
    g.normal([3], on); // an odd count leaves the second Box-Muller value pending
    g.manualSeed(7);
    expect(values(g.normal([4], on))).toEqual(values(new Generator(7).normal([4], on)));
  });

  it('manualSeed() reseeds the default generator', () => {
    manualSeed(5);
    expect(values(defaultGenerator.uniform([6], on))).toEqual(values(new Generator(5).uniform([6], on)));
  });

  it('nextUint32 gives 32-bit unsigned integers with balanced bits', () => {
    const g = new Generator(9);
    const draws = Array.from({ length: SAMPLES }, () => g.nextUint32());
    expect(draws.every((u) => Number.isInteger(u) && u >= 0 && u < 2 ** 32)).toBe(true);
    for (const bit of [0, 15, 31]) {
      const ones = draws.filter((u) => (u >>> bit) & 1).length / SAMPLES;
      expect(Math.abs(ones - 0.5), `bit ${bit}`).toBeLessThan((5 * 0.5) / Math.sqrt(SAMPLES));
    }
  });

  it('uniform: in [low, high), with the mean, variance and bin counts of the uniform distribution', () => {
    const [low, high] = [-2, 3];
    const xs = values(new Generator(11).uniform([SAMPLES], { ...on, low, high }));
    expect(xs.every((x) => x >= low && x < high)).toBe(true);
    const width = high - low;
    const { mean, variance } = meanAndVariance(xs);
    // Var(x) = w²/12; the sample variance has variance (μ4 - σ⁴)/n with μ4 = w⁴/80.
    expect(Math.abs(mean - (low + high) / 2)).toBeLessThan(5 * Math.sqrt(width ** 2 / 12 / SAMPLES));
    expect(Math.abs(variance - width ** 2 / 12)).toBeLessThan(5 * Math.sqrt((width ** 4 / 80 - width ** 4 / 144) / SAMPLES));
    const bins = 10;
    const counts = new Array<number>(bins).fill(0);
    for (const x of xs) counts[Math.floor(((x - low) / width) * bins)]! += 1;
    const p = 1 / bins;
    for (const count of counts) expect(Math.abs(count - SAMPLES * p)).toBeLessThan(5 * Math.sqrt(SAMPLES * p * (1 - p)));
  });

  it('normal: mean 0 and variance 1 within 5 standard errors, symmetric tails', () => {
    const xs = values(new Generator(13).normal([SAMPLES], on));
    const { mean, variance } = meanAndVariance(xs);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(SAMPLES));
    // The sample variance of normal data has variance 2σ⁴/(n-1).
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / (SAMPLES - 1)));
    // P(|x| > 1.96) = 0.05 for a standard normal.
    const tail = xs.filter((x) => Math.abs(x) > 1.959963984540054).length / SAMPLES;
    expect(Math.abs(tail - 0.05)).toBeLessThan(5 * Math.sqrt((0.05 * 0.95) / SAMPLES));
    expect(xs.every(Number.isFinite)).toBe(true);
  });

  it('creates tensors in the requested dtype', () => {
    const single = new Generator(1).uniform([4], { ...on, dtype: 'float32' });
    expect(single.dtype).toBe('float32');
    expect(values(single)).toEqual(values(single).map(Math.fround));
  });
});
