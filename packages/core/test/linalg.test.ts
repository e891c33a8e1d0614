/**
 * Dense linear algebra (`linalg`) against brute force: the decompositions
 * rebuild their input (A = L Lᵀ, A = Q R, A V = V Λ with orthonormal V),
 * spectra built by hand are recovered, solves leave small residuals and
 * recover known solutions, on random, ill-conditioned, batched, small and
 * n = 200 matrices; and the errors name the function and the numbers.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import { linalg, matmul, noGrad, tensor, type Tensor } from '@backpack-ts/core';
import { wrapBackend } from './helpers/backends.js';
import { randomNumbers, t } from './helpers/tensors.js';

type Matrix = number[][];

function toMatrices(x: Tensor): Matrix[] {
  const [m, n] = x.shape.slice(-2) as [number, number];
  const data = Array.from(x.toArray());
  const count = data.length / (m * n);
  return Array.from({ length: count }, (_, b) => Array.from({ length: m }, (_, i) => data.slice(b * m * n + i * n, b * m * n + (i + 1) * n)));
}
const product = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
const transpose = (a: Matrix): Matrix => a[0]!.map((_, j) => a.map((row) => row[j]!));
const frobenius = (a: Matrix): number => Math.sqrt(a.flat().reduce((s, x) => s + x * x, 0));
const difference = (a: Matrix, b: Matrix): number => frobenius(a.map((row, i) => row.map((x, j) => x - b[i]![j]!)));
const identity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const fromMatrix = (a: Matrix, dtype: 'float64' | 'float32' = 'float64'): Tensor => t(a.flat(), [a.length, a[0]!.length], dtype);

function randomMatrix(m: number, n: number, seed: number): Matrix {
  const data = randomNumbers(m * n, seed);
  return Array.from({ length: m }, (_, i) => data.slice(i * n, (i + 1) * n));
}
/** An orthogonal matrix from the Gram-Schmidt process on a random one (independent of linalg.qr). */
function randomOrthogonal(n: number, seed: number): Matrix {
  const columns: number[][] = [];
  for (const column of transpose(randomMatrix(n, n, seed))) {
    const v = [...column];
    for (let pass = 0; pass < 2; pass++) {
      for (const q of columns) {
        const dot = q.reduce((s, x, i) => s + x * v[i]!, 0);
        for (let i = 0; i < n; i++) v[i]! -= dot * q[i]!;
      }
    }
    const norm = Math.hypot(...v);
    columns.push(v.map((x) => x / norm));
  }
  return transpose(columns);
}
/** Q diag(spectrum) Qᵀ: a symmetric matrix whose eigenvalues are known. */
function withSpectrum(spectrum: readonly number[], seed: number): Matrix {
  const q = randomOrthogonal(spectrum.length, seed);
  return product(q.map((row) => row.map((x, j) => x * spectrum[j]!)), transpose(q));
}
/** Eigenvalues 1 down to 10^-decades, log-spaced: condition number 10^decades. */
const graded = (n: number, decades: number) => Array.from({ length: n }, (_, i) => 10 ** (-decades * (i / (n - 1))));
const spd = (n: number, seed: number): Matrix => {
  const a = randomMatrix(n, n, seed);
  return product(a, transpose(a)).map((row, i) => row.map((x, j) => x + (i === j ? n : 0)));
};

describe('linalg.cholesky', () => {
  it.each([
    ['a random 6 x 6 matrix', spd(6, 1)],
    ['a random 200 x 200 matrix', spd(200, 2)],
    ['an ill-conditioned (1e12) matrix', withSpectrum(graded(30, 12), 3)],
  ])('rebuilds %s as L Lᵀ with L lower triangular and a positive diagonal', (_, a) => {
    const [l] = toMatrices(linalg.cholesky(fromMatrix(a)));
    expect(difference(product(l!, transpose(l!)), a) / frobenius(a)).toBeLessThan(1e-14);
    l!.forEach((row, i) => row.forEach((x, j) => (j > i ? expect(x).toBe(0) : j === i ? expect(x).toBeGreaterThan(0) : undefined)));
  });

  it('reads only the lower triangle, factorises every matrix of a batch, and keeps float32', () => {
    const matrices = [spd(4, 4), spd(4, 5), spd(4, 6)];
    const garbageAbove = matrices.map((a) => a.map((row, i) => row.map((x, j) => (j > i ? 99 : x))));
    const l = linalg.cholesky(t(garbageAbove.flat(2), [3, 4, 4]));
    expect(l.shape).toEqual([3, 4, 4]);
    toMatrices(l).forEach((li, b) => expect(difference(product(li, transpose(li)), matrices[b]!)).toBeLessThan(1e-12));
    const single = linalg.cholesky(fromMatrix(matrices[0]!, 'float32'));
    expect(single.dtype).toBe('float32');
    const [ls] = toMatrices(single);
    expect(difference(product(ls!, transpose(ls!)), matrices[0]!) / frobenius(matrices[0]!)).toBeLessThan(1e-6);
  });

  it('names the leading minor that fails on a matrix that is not positive definite', () => {
    expect(() => linalg.cholesky(t([4, 2, 0, 2, 1, 0, 0, 0, 1], [3, 3]))).toThrow(
      'linalg.cholesky: the matrix of shape [3, 3] is not positive definite: the leading minor of order 2 has pivot 0',
    );
    expect(() => linalg.cholesky(t([1, 0, 0, 1, 1, 0, 0, -2], [2, 2, 2]))).toThrow(/matrix 1 of the batch \[2\].*order 2 has pivot -2/);
  });
});

describe('linalg.qr', () => {
  it.each([
    ['square 5 x 5', randomMatrix(5, 5, 7)],
    ['tall 9 x 4', randomMatrix(9, 4, 8)],
    ['wide 3 x 7', randomMatrix(3, 7, 9)],
    ['square 200 x 200', randomMatrix(200, 200, 10)],
    ['ill-conditioned (1e12)', withSpectrum(graded(25, 12), 11)],
  ])('rebuilds a %s matrix as Q R with orthonormal Q and upper triangular R', (_, a) => {
    const { Q, R } = linalg.qr(fromMatrix(a));
    const k = Math.min(a.length, a[0]!.length);
    expect(Q.shape).toEqual([a.length, k]);
    expect(R.shape).toEqual([k, a[0]!.length]);
    const [q] = toMatrices(Q);
    const [r] = toMatrices(R);
    expect(difference(product(q!, r!), a) / frobenius(a)).toBeLessThan(1e-14);
    expect(difference(product(transpose(q!), q!), identity(k))).toBeLessThan(1e-13);
    r!.forEach((row, i) => row.forEach((x, j) => (j < i ? expect(x).toBe(0) : undefined)));
  });

  it('decomposes each matrix of a batch, and a matrix of rank one', () => {
    const batch = [randomMatrix(4, 3, 12), randomMatrix(4, 3, 13)];
    const { Q, R } = linalg.qr(t(batch.flat(2), [2, 4, 3]));
    const qs = toMatrices(Q);
    toMatrices(R).forEach((r, b) => expect(difference(product(qs[b]!, r), batch[b]!)).toBeLessThan(1e-14));
    const rankOne = [[1, 2], [2, 4], [3, 6]];
    const [q, r] = [toMatrices(linalg.qr(fromMatrix(rankOne)).Q)[0]!, toMatrices(linalg.qr(fromMatrix(rankOne)).R)[0]!];
    expect(difference(product(q, r), rankOne)).toBeLessThan(1e-14);
  });
});

describe('linalg.eigh', () => {
  it.each([
    ['random 6 x 6', randomMatrix(6, 6, 14).map((row, i, a) => row.map((x, j) => x + a[j]![i]!))],
    ['random 200 x 200', randomMatrix(200, 200, 15).map((row, i, a) => row.map((x, j) => x + a[j]![i]!))],
    ['ill-conditioned (1e12)', withSpectrum(graded(40, 12), 16)],
    ['with a repeated eigenvalue', withSpectrum([3, 3, 3, -1, 0, 2], 17)],
  ])('gives A V = V Λ with orthonormal V and ascending Λ on a %s matrix', (_, a) => {
    const { eigenvalues, eigenvectors } = linalg.eigh(fromMatrix(a));
    const lambda = Array.from(eigenvalues.toArray());
    const [v] = toMatrices(eigenvectors);
    const n = a.length;
    expect(difference(product(a, v!), v!.map((row) => row.map((x, j) => x * lambda[j]!))) / frobenius(a)).toBeLessThan(1e-13);
    expect(difference(product(transpose(v!), v!), identity(n))).toBeLessThan(1e-12);
    for (let i = 1; i < n; i++) expect(lambda[i]).toBeGreaterThanOrEqual(lambda[i - 1]!);
  });

  it('recovers spectra built by hand (to eps ||A|| each), in every matrix of a batch', () => {
    const spectra = [graded(30, 12), [-5, -1e-9, 0, 1e-9, 2, 7, 7], [3, 3, 3, -1, 0, 2]];
    for (const [index, spectrum] of spectra.entries()) {
      const found = Array.from(linalg.eigh(fromMatrix(withSpectrum(spectrum, 20 + index))).eigenvalues.toArray());
      const expected = [...spectrum].sort((x, y) => x - y);
      const scale = Math.max(...spectrum.map(Math.abs));
      found.forEach((x, i) => expect(Math.abs(x - expected[i]!)).toBeLessThan(1e-14 * scale * spectrum.length));
    }
    const batch = [withSpectrum([1, 2, 3], 30), withSpectrum([-4, 0.5, 10], 31)];
    const { eigenvalues } = linalg.eigh(t(batch.flat(2), [2, 3, 3]));
    expect(eigenvalues.shape).toEqual([2, 3]);
    Array.from(eigenvalues.toArray()).forEach((x, i) => expect(x).toBeCloseTo([1, 2, 3, -4, 0.5, 10][i]!, 13));
  });

  it('reads only the lower triangle and refuses non-finite entries', () => {
    const found = linalg.eigh(t([2, 99, 1, 2], [2, 2])).eigenvalues.toArray();
    expect(Array.from(found).map((x) => Number(x.toFixed(12)))).toEqual([1, 3]);
    expect(() => linalg.eigh(t([1, 0, NaN, 1], [2, 2]))).toThrow('linalg.eigh: the matrix of shape [2, 2] has the non-finite entry NaN at [1, 0]');
  });
});

describe('linalg.solve, linalg.inv and linalg.choleskySolve', () => {
  it.each([
    // [name, A, backward error bound, forward error bound: the condition number times the backward one]
    ['random 7 x 7', randomMatrix(7, 7, 40), 1e-14, 1e-12],
    ['random 200 x 200', randomMatrix(200, 200, 41), 1e-13, 1e-10],
    ['ill-conditioned (1e10)', withSpectrum(graded(20, 10), 42), 1e-14, 1e10 * 1e-14],
  ])('solve leaves a backward-stable residual and recovers a known solution on a %s matrix', (_, a, backward, forward) => {
    const n = a.length;
    const xTrue = randomMatrix(n, 3, 43);
    const b = product(a, xTrue);
    const [x] = toMatrices(linalg.solve(fromMatrix(a), fromMatrix(b)));
    expect(difference(product(a, x!), b) / (frobenius(a) * frobenius(x!))).toBeLessThan(backward);
    expect(difference(x!, xTrue) / frobenius(xTrue)).toBeLessThan(forward);
  });

  it('solve takes a batch of vectors, and inv and choleskySolve agree with it', () => {
    const matrices = [spd(5, 44), spd(5, 45)];
    const vectors = [randomNumbers(5, 46), randomNumbers(5, 47)];
    const A = t(matrices.flat(2), [2, 5, 5]);
    const x = linalg.solve(A, t(vectors.flat(), [2, 5]));
    expect(x.shape).toEqual([2, 5]);
    const xs = Array.from(x.toArray());
    matrices.forEach((a, b) => {
      const residual = product(a, xs.slice(5 * b, 5 * b + 5).map((v) => [v])).map(([y], i) => y! - vectors[b]![i]!);
      expect(Math.hypot(...residual)).toBeLessThan(1e-13);
    });
    toMatrices(linalg.inv(A)).forEach((ai, b) => expect(difference(product(matrices[b]!, ai), identity(5))).toBeLessThan(1e-14));
    const B = t(vectors.flat(), [2, 5, 1]);
    const viaCholesky = linalg.choleskySolve(B, linalg.cholesky(A)).toArray();
    Array.from(viaCholesky).forEach((v, i) => expect(v).toBeCloseTo(xs[i]!, 13));
  });

  it('names the singular matrix and the column whose pivot vanishes', () => {
    expect(() => linalg.solve(t([1, 2, 2, 4], [2, 2]), t([1, 1], [2]))).toThrow(
      'linalg.solve: the matrix of shape [2, 2] is singular: after partial pivoting, the pivot of column 1 is exactly zero',
    );
    expect(() => linalg.inv(t([0, 0, 0, 1], [2, 2]))).toThrow('linalg.inv: the matrix of shape [2, 2] is singular');
    expect(() => linalg.solve(t([1, 0, 0, 1], [2, 2]), t([1, 1, 1], [3]))).toThrow(
      'linalg.solve: B of shape [3] does not fit A of shape [2, 2]',
    );
  });
});

describe('linalg errors shared by every function', () => {
  const square = () => t([2, 1, 1, 2], [2, 2]);
  it.each([
    ['cholesky', (a: Tensor) => linalg.cholesky(a)],
    ['eigh', (a: Tensor) => linalg.eigh(a)],
    ['inv', (a: Tensor) => linalg.inv(a)],
    ['solve', (a: Tensor) => linalg.solve(a, square())],
  ])('linalg.%s refuses non-square, integer and recorded inputs', (name, fn) => {
    expect(() => fn(t([1, 2, 3, 4, 5, 6], [2, 3]))).toThrow(`linalg.${name}: `);
    expect(() => fn(t([1, 2, 3, 4, 5, 6], [2, 3]))).toThrow(/must be square matrices \[\.\.\., n, n\], got shape \[2, 3\]/);
    expect(() => fn(t([1, 0, 0, 1], [2, 2], 'int32'))).toThrow(`linalg.${name}: expects a float32 or float64 tensor, got int32`);
    const recorded = square().requiresGrad_();
    expect(() => fn(recorded)).toThrow(new RegExp(`linalg\\.${name}: .*requires gradients, but linalg\\.${name} is not differentiable; call it inside noGrad\\(`));
    expect(() => noGrad(() => fn(recorded))).not.toThrow();
    expect(() => fn(recorded.detach())).not.toThrow();
  });

  it('refuses operands on different dtypes', () => {
    expect(() => linalg.solve(t([1, 0, 0, 1], [2, 2]), t([1, 1], [2], 'float32'))).toThrow('linalg.solve: dtypes differ (float64 and float32)');
  });

  it('computes float32 inputs to float32 accuracy and returns float32', () => {
    const a = withSpectrum([1, 2, 5, 9], 51);
    const { eigenvalues, eigenvectors } = linalg.eigh(fromMatrix(a, 'float32'));
    expect([eigenvalues.dtype, eigenvectors.dtype]).toEqual(['float32', 'float32']);
    Array.from(eigenvalues.toArray()).forEach((x, i) => expect(Math.abs(x - [1, 2, 5, 9][i]!)).toBeLessThan(1e-5));
    const { Q, R } = linalg.qr(fromMatrix(a, 'float32'));
    expect(difference(product(toMatrices(Q)[0]!, toMatrices(R)[0]!), a) / frobenius(a)).toBeLessThan(1e-6);
    const x = linalg.solve(fromMatrix(a, 'float32'), t([1, 1, 1, 1], [4], 'float32'));
    expect(x.dtype).toBe('float32');
  });

  it('returns results on the backend of the input', () => {
    const other = wrapBackend(cpu, 'other-cpu');
    const a = tensor(spd(3, 52).flat(), [3, 3], { backend: other });
    expect(linalg.cholesky(a).backend).toBe(other);
    expect(linalg.eigh(a).eigenvectors.backend).toBe(other);
    expect(linalg.qr(a).Q.backend).toBe(other);
    expect(linalg.inv(a).backend).toBe(other);
  });

  it('returns results on the input backend usable by other ops', () => {
    const a = tensor(spd(3, 50).flat(), [3, 3], { backend: cpu });
    const l = linalg.cholesky(a);
    const rebuilt = toMatrices(matmul(l, l, false, true))[0]!;
    expect(difference(rebuilt, toMatrices(a)[0]!)).toBeLessThan(1e-13);
  });
});
