/**
 * What the kernel case families share: seeded draws of input values, the
 * input views (permuted, sliced, reshaped) and an input above 10,000 elements.
 */
import { Generator, type Shape } from '@backpack-ts/core';
import type { InputView } from '../kernel-check.js';

/** Seeded draws of input values. */
export class Draw {
  private readonly g: Generator;

  constructor(seed: number) {
    this.g = new Generator(seed);
  }

  normal(n: number, scale = 1): number[] {
    return Array.from({ length: n }, () => this.g.nextNormal() * scale);
  }

  uniform(n: number, low: number, high: number): number[] {
    return Array.from({ length: n }, () => low + (high - low) * this.g.nextUniform());
  }

  /** Magnitudes log-uniform in [low, high), with random signs when `signed`. */
  logUniform(n: number, low: number, high: number, signed = false): number[] {
    const a = Math.log(low);
    const b = Math.log(high);
    return Array.from({ length: n }, () => {
      const v = Math.exp(a + (b - a) * this.g.nextUniform());
      return signed && this.g.nextUniform() < 0.5 ? -v : v;
    });
  }

  /** Integers in [low, high] (many ties). */
  ints(n: number, low: number, high: number): number[] {
    return Array.from({ length: n }, () => low + Math.floor((high - low + 1) * this.g.nextUniform()));
  }

  /** Every `every`-th value replaced by `value`. */
  sprinkle(values: number[], every: number, value: number): number[] {
    return values.map((v, i) => (i % every === every - 1 ? value : v));
  }
}

export const PERMUTED_3D: InputView = { kind: 'permuted', perm: [2, 0, 1] };
export const TRANSPOSED: InputView = { kind: 'permuted', perm: [1, 0] };
export const SLICED: InputView = { kind: 'sliced' };
export const RESHAPED: InputView = { kind: 'reshaped' };

/** Inputs of more than 10,000 elements. */
export const BIG_2D: Shape = [130, 97];
