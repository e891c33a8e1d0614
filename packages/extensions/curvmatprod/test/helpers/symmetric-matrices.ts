/**
 * Test matrices for the algorithms, built in plain JavaScript: random
 * symmetric matrices, and matrices with a chosen spectrum (Q diag(λ) Qᵀ with
 * Q orthogonal by Gram-Schmidt, independent of the code under test).
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Generator, tensor, type FloatDType, type Tensor } from '@backpack-ts/core';
import { denseOperator, type DenseOperator } from '@backpack-ts/curvmatprod';

export type Matrix = number[][];

/** A random symmetric matrix with entries of order 1 (sum of a Gaussian matrix and its transpose, over √2). */
export function randomSymmetric(n: number, seed: number): Matrix {
  const g = new Generator(seed);
  const a = Array.from({ length: n }, () => Array.from({ length: n }, () => g.nextNormal()));
  return a.map((row, i) => row.map((x, j) => (x + a[j]![i]!) / Math.SQRT2));
}

/** A random orthogonal matrix (Gram-Schmidt, twice, on a Gaussian one). */
export function randomOrthogonal(n: number, seed: number): Matrix {
  const g = new Generator(seed);
  const columns: number[][] = [];
  for (let c = 0; c < n; c++) {
    const v = Array.from({ length: n }, () => g.nextNormal());
    for (let pass = 0; pass < 2; pass++) {
      for (const q of columns) {
        const d = q.reduce((s, x, i) => s + x * v[i]!, 0);
        for (let i = 0; i < n; i++) v[i]! -= d * q[i]!;
      }
    }
    const norm = Math.hypot(...v);
    columns.push(v.map((x) => x / norm));
  }
  return Array.from({ length: n }, (_, i) => columns.map((q) => q[i]!));
}

/** Q diag(spectrum) Qᵀ for a random orthogonal Q. */
export function withSpectrum(spectrum: readonly number[], seed: number): Matrix {
  const q = randomOrthogonal(spectrum.length, seed);
  const n = spectrum.length;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i]![k]! * spectrum[k]! * q[j]![k]!;
      return s;
    }),
  );
}

export function toTensor(a: Matrix, dtype: FloatDType = 'float64'): Tensor {
  return tensor(a.flat(), [a.length, a.length], { backend: cpu, dtype });
}

export function operatorOf(a: Matrix, dtype: FloatDType = 'float64'): DenseOperator {
  return denseOperator(toTensor(a, dtype));
}

export function product(a: Matrix, b: Matrix): Matrix {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

export const trace = (a: Matrix): number => a.reduce((s, row, i) => s + row[i]!, 0);
export const frobeniusSquared = (a: Matrix): number => a.flat().reduce((s, x) => s + x * x, 0);
export const diagonalSquared = (a: Matrix): number => a.reduce((s, row, i) => s + row[i]! ** 2, 0);
