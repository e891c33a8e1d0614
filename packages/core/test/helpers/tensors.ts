/**
 * Test data on the cpu backend. Random numbers come from a tiny generator of
 * their own (mulberry32), so test data does not depend on core's Generator.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { tensor, type DType, type Shape, type Tensor } from '@backpack-ts/core';

/** A tensor on cpu holding `data` (float64 unless `dtype` says otherwise). */
export function t(data: ArrayLike<number>, shape: Shape, dtype: DType = 'float64'): Tensor {
  return tensor(data, shape, { backend: cpu, dtype });
}

/** The elements of a tensor as a plain array, row-major. */
export function values(x: Tensor): number[] {
  return Array.from(x.toArray());
}

/** `count` uniform numbers in [low, high), reproducible from `seed`. */
export function randomNumbers(count: number, seed: number, low = -1, high = 1): number[] {
  let state = (seed * 0x9e3779b1 + 0x6d2b79f5) >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => low + (high - low) * next());
}

export interface RandomOptions {
  readonly low?: number;
  readonly high?: number;
  /**
   * Keeps every entry at least this far from 0 (its sign is random): inputs of
   * ReLU-like functions stay away from the kink, where finite differences fail.
   */
  readonly minAbs?: number;
}

/** A float64 cpu tensor of reproducible random numbers (uniform in [-1, 1) by default). */
export function randomTensor(shape: Shape, seed: number, options: RandomOptions = {}): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const { low = -1, high = 1, minAbs } = options;
  let data = randomNumbers(size, seed, low, high);
  if (minAbs !== undefined) {
    const signs = randomNumbers(size, seed + 7919);
    data = data.map((x, i) => (signs[i]! < 0 ? -1 : 1) * (minAbs + Math.abs(x)));
  }
  return t(data, shape);
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  return strides;
}

/** Every multi-index of `shape`, in row-major order. */
export function* indices(shape: Shape): Generator<number[]> {
  const size = shape.reduce((a, b) => a * b, 1);
  const strides = stridesOf(shape);
  for (let flat = 0; flat < size; flat++) yield shape.map((d, i) => Math.floor(flat / strides[i]!) % d);
}

/** Flat row-major offset of a multi-index. */
export function offsetOf(index: readonly number[], shape: Shape): number {
  const strides = stridesOf(shape);
  return index.reduce((sum, k, i) => sum + k * strides[i]!, 0);
}
