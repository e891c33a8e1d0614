/**
 * Brute-force helpers for the tests: explicit multi-index loops and
 * tolerant comparison. Deliberately naive and independent of src/.
 */
import { expect } from 'vitest';

export type TestDType = 'float64' | 'float32';
export const FLOAT_DTYPES: readonly TestDType[] = ['float64', 'float32'];

/** Deterministic uniform numbers in [-1, 1) (mulberry32). */
export function randomData(size: number, seed: number): number[] {
  let state = seed >>> 0;
  const data: number[] = [];
  for (let i = 0; i < size; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data.push((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1);
  }
  return data;
}

/** Values as stored in `dtype` (float32 rounds each element). */
export function stored(data: readonly number[], dtype: TestDType): number[] {
  return dtype === 'float32' ? Array.from(Float32Array.from(data)) : data.slice();
}

/** Every multi-index of `shape`, in row-major order. */
export function allIndices(shape: readonly number[]): number[][] {
  let result: number[][] = [[]];
  for (const dim of shape) {
    const next: number[][] = [];
    for (const prefix of result) for (let i = 0; i < dim; i++) next.push([...prefix, i]);
    result = next;
  }
  return result;
}

/** Row-major flat position of `index` in `shape`. */
export function flatIndex(shape: readonly number[], index: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + index[d];
  return flat;
}

/**
 * Checks `actual` against the exact `expected`: every element within 1e-12
 * (float64) or 1e-5 (float32) of the largest finite |expected|. NaN must
 * match NaN and infinities must match exactly.
 */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], dtype: TestDType): void {
  expect(actual.length).toBe(expected.length);
  const scale = expected.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      expect(a, `element ${i}`).toBe(e);
      continue;
    }
    const tolerance = (dtype === 'float64' ? 1e-12 : 1e-5) * scale;
    if (!(Math.abs(a - e) <= tolerance)) {
      expect.fail(`element ${i}: got ${a}, expected ${e} (tolerance ${tolerance})`);
    }
  }
}

/** The typed array class that holds `dtype`. */
export function arrayClassOf(dtype: 'float64' | 'float32' | 'int32') {
  return dtype === 'float64' ? Float64Array : dtype === 'float32' ? Float32Array : Int32Array;
}
