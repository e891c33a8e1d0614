import type { Tensor } from '../../tensor/tensor.js';
import { readMatrices, resultLike } from './matrices.js';

/** The reduced QR decomposition `A = Q R` returned by {@link qr}. */
export interface QR {
  /** `[..., m, k]` with orthonormal columns, `k = min(m, n)`. */
  readonly Q: Tensor;
  /** `[..., k, n]`, upper triangular. */
  readonly R: Tensor;
}

/**
 * The reduced QR decomposition of matrices `[..., m, n]`
 * (`torch.linalg.qr`, mode `'reduced'`), by Householder reflections in
 * float64, on the input's backend and dtype. As in PyTorch, the signs of
 * `R`'s diagonal are not normalised. Not differentiable.
 */
export function qr(A: Tensor): QR {
  const batch = readMatrices('linalg.qr', A);
  const { rows: m, columns: n } = batch;
  const k = Math.min(m, n);
  const q = new Float64Array(batch.count * m * k);
  const r = new Float64Array(batch.count * k * n);
  for (let b = 0; b < batch.count; b++) {
    const work = batch.data.slice(b * m * n, (b + 1) * m * n);
    const reflectors = householderTriangularise(work, m, n, k);
    for (let i = 0; i < k; i++) for (let j = i; j < n; j++) r[b * k * n + i * n + j] = work[i * n + j]!;
    // Q = H_0 H_1 ... H_{k-1} applied to the first k columns of the identity.
    const qb = new Float64Array(m * k);
    for (let i = 0; i < k; i++) qb[i * k + i] = 1;
    for (let j = k - 1; j >= 0; j--) reflect(reflectors[j]!, j, qb, m, k, 0);
    q.set(qb, b * m * k);
  }
  const batchShape = A.shape.slice(0, -2);
  return { Q: resultLike(A, q, [...batchShape, m, k]), R: resultLike(A, r, [...batchShape, k, n]) };
}

/**
 * Overwrites the `m x n` matrix `a` with `R` (on and above the diagonal) by
 * `k` Householder reflections `H_j = I - 2 v vᵀ`; returns the unit vectors
 * `v` (entries `j..m-1`; a zero vector where the column was already zero).
 */
function householderTriangularise(a: Float64Array, m: number, n: number, k: number): Float64Array[] {
  const reflectors: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const v = new Float64Array(m - j);
    let norm = 0;
    for (let i = j; i < m; i++) norm += a[i * n + j]! ** 2;
    norm = Math.sqrt(norm);
    if (norm > 0) {
      // Reflect onto -sign(x0)||x|| e0: the subtraction x0 - alpha then never cancels.
      const alpha = a[j * n + j]! >= 0 ? -norm : norm;
      for (let i = j; i < m; i++) v[i - j] = a[i * n + j]!;
      v[0]! -= alpha;
      let vNorm = 0;
      for (const x of v) vNorm += x * x;
      vNorm = Math.sqrt(vNorm);
      for (let i = 0; i < v.length; i++) v[i]! /= vNorm;
      reflect(v, j, a, m, n, j);
      for (let i = j + 1; i < m; i++) a[i * n + j] = 0;
    }
    reflectors.push(v);
  }
  return reflectors;
}

/** Applies `I - 2 v vᵀ` (acting on rows `from..m-1`) to columns `firstColumn..` of the `m x columns` matrix `x`. */
function reflect(v: Float64Array, from: number, x: Float64Array, m: number, columns: number, firstColumn: number): void {
  for (let c = firstColumn; c < columns; c++) {
    let dot = 0;
    for (let i = from; i < m; i++) dot += v[i - from]! * x[i * columns + c]!;
    if (dot === 0) continue;
    for (let i = from; i < m; i++) x[i * columns + c]! -= 2 * dot * v[i - from]!;
  }
}
