import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { readSquareMatrices, resultLike, whichMatrix } from './matrices.js';

/** The eigendecomposition `A = V diag(Λ) Vᵀ` returned by {@link eigh}. */
export interface Eigh {
  /** `[..., n]`, ascending in each matrix (as PyTorch). */
  readonly eigenvalues: Tensor;
  /** `[..., n, n]`, orthonormal; column `i` belongs to eigenvalue `i` (signs arbitrary, as in PyTorch). */
  readonly eigenvectors: Tensor;
}

/** Sweeps after which the Jacobi iteration gives up (it converges quadratically, in well under 20 sweeps). */
const MAX_SWEEPS = 60;

/**
 * The eigenvalues and eigenvectors of symmetric matrices `[..., n, n]`
 * (`torch.linalg.eigh`, lower): only the lower triangle is read. Computed by
 * the cyclic Jacobi method in float64, which gives small eigenvalues to high
 * relative accuracy; results are on the input's backend and dtype.
 *
 * Throws on a NaN or infinite entry. Not differentiable.
 */
export function eigh(A: Tensor): Eigh {
  const op = 'linalg.eigh';
  const batch = readSquareMatrices(op, A);
  const n = batch.rows;
  const values = new Float64Array(batch.count * n);
  const vectors = new Float64Array(batch.data.length);
  for (let b = 0; b < batch.count; b++) {
    const offset = b * n * n;
    const matrix = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const value = batch.data[offset + i * n + j]!;
        if (!Number.isFinite(value)) {
          throw new RangeError(`${op}: the matrix of shape ${formatShape(A.shape)}${whichMatrix(batch, b)} has the non-finite entry ${value} at [${i}, ${j}]`);
        }
        matrix[i * n + j] = value;
        matrix[j * n + i] = value;
      }
    }
    const { eigenvalues, eigenvectors } = jacobiEigen(op, matrix, n);
    const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => eigenvalues[i]! - eigenvalues[j]!);
    order.forEach((from, to) => {
      values[b * n + to] = eigenvalues[from]!;
      for (let r = 0; r < n; r++) vectors[offset + r * n + to] = eigenvectors[r * n + from]!;
    });
  }
  return { eigenvalues: resultLike(A, values, A.shape.slice(0, -1)), eigenvectors: resultLike(A, vectors, A.shape) };
}

/**
 * Diagonalises the symmetric `n x n` matrix `a` (overwritten) by plane
 * rotations, each zeroing one off-diagonal pair, sweeping all pairs until
 * every off-diagonal entry is negligible next to its two diagonal entries.
 */
function jacobiEigen(op: string, a: Float64Array, n: number): { eigenvalues: Float64Array; eigenvectors: Float64Array } {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const eps = Number.EPSILON;
  let frobenius = 0;
  for (const x of a) frobenius += x * x;
  // Below this an entry is zero for every purpose (it perturbs eigenvalues by eps² ||A||).
  const floor = eps * eps * Math.sqrt(frobenius);
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        if (Math.abs(apq) <= Math.max(eps * Math.sqrt(Math.abs(app * aqq)), floor)) {
          a[p * n + q] = a[q * n + p] = 0;
          continue;
        }
        rotated = true;
        // The rotation angle's tangent, the smaller root of t² + 2θt - 1 = 0.
        const theta = (aqq - app) / (2 * apq);
        const t = Math.abs(theta) > 1e150 ? 1 / (2 * theta) : Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        const tau = s / (1 + c);
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = a[q * n + p] = 0;
        for (let r = 0; r < n; r++) {
          if (r !== p && r !== q) {
            const arp = a[r * n + p]!;
            const arq = a[r * n + q]!;
            a[r * n + p] = a[p * n + r] = arp - s * (arq + tau * arp);
            a[r * n + q] = a[q * n + r] = arq + s * (arp - tau * arq);
          }
          const vrp = v[r * n + p]!;
          const vrq = v[r * n + q]!;
          v[r * n + p] = vrp - s * (vrq + tau * vrp);
          v[r * n + q] = vrq + s * (vrp - tau * vrq);
        }
      }
    }
    if (!rotated) return { eigenvalues: Float64Array.from({ length: n }, (_, i) => a[i * n + i]!), eigenvectors: v };
  }
  throw new Error(`${op}: the Jacobi iteration did not converge in ${MAX_SWEEPS} sweeps on a ${n} x ${n} matrix`);
}
