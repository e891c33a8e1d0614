import { cpu } from '@backpack-ts/backend-cpu';
import { Linear, Generator, tensor, type Parameter } from '@backpack-ts/core';
import { expect } from 'vitest';

/** float64 on backend-cpu. */
export const F64 = { backend: cpu, dtype: 'float64' } as const;

/** A parameter's values as a plain array. */
export function valuesOf(parameter: Parameter): number[] {
  return Array.from(parameter.data.toArray());
}

/** Sets `parameter.grad` to `values` (shaped like the parameter), disposing the previous gradient. */
export function setGrad(parameter: Parameter, values: readonly number[]): void {
  parameter.grad?.dispose();
  parameter.grad = tensor(values, parameter.data.shape, F64);
}

/** Sets a named extension field of `parameter` (as the extension would) to `values` shaped like the parameter. */
export function setField(parameter: Parameter, field: string, values: readonly number[]): void {
  (parameter as unknown as Record<string, unknown>)[field] = tensor(values, parameter.data.shape, F64);
}

/** A Linear(3, 2) in float64: parameters `weight` [2, 3] and `bias` [2] with seeded values. */
export function smallLayer(seed = 0): Linear {
  return new Linear(3, 2, { ...F64, generator: new Generator(seed) });
}

/** Asserts |a - e| <= tolerance · max(1, |e|) entrywise. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i]!, expected[i]!];
    if (!(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e)))) {
      expect.fail(`entry ${i}: got ${a}, expected ${e} (difference ${Math.abs(a - e).toExponential(2)})`);
    }
  }
}

/** A smooth, nonlinear stand-in for a gradient at θ, different per entry: `sin(θᵢ) + θᵢ³/3 + (i − 2)/7`. */
export function syntheticGradient(theta: readonly number[]): number[] {
  return theta.map((t, i) => Math.sin(t) + t ** 3 / 3 + (i - 2) / 7);
}
