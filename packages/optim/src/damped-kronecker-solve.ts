import { add, div, eye, linalg, matmul, mul, reshape, tensor, transpose, unsqueeze, type Tensor } from '@backpack-ts/core';

/**
 * How damping enters the inverse of a Kronecker-factored curvature `G ⊗ A`:
 *
 * - `'factored'`: Tikhonov damping split over the factors with Martens and
 *   Grosse's π-correction (KFAC, 2015, §6.3),
 *   `(G + π√λ I)⁻¹ ⊗ (A + √λ/π I)⁻¹` with `π = √((tr G / dim G) / (tr A / dim A))`
 *   (π = 1 when a trace is 0); by Cholesky factorisations;
 * - `'exact'`: the damped product itself, `(G ⊗ A + λ I)⁻¹`, through the
 *   eigendecompositions of both factors (costlier: Jacobi on each factor).
 */
export type KroneckerDampingRule = 'factored' | 'exact';

/** `(F + λ I)⁻¹ g` for one factor `F` `[p, p]` and `g` of size p (any shape), by Cholesky. */
export function dampedBlockSolve(factor: Tensor, g: Tensor, damping: number): Tensor {
  const p = factor.shape[0]!;
  const cholesky = linalg.cholesky(add(factor, mul(eye(p, like(factor)), damping)));
  return reshape(linalg.choleskySolve(reshape(g, [p, 1]), cholesky), g.shape);
}

/**
 * The damped inverse of `G ⊗ A` applied to `V`, by `rule`: `V` is
 * `[..., rows, columns]`, `G` `[..., rows, rows]` and `A`
 * `[..., columns, columns]` with the same leading dimensions (a stack of
 * independent blocks). For one block, `(G ⊗ A)·vec(V) = vec(G V A)` (row-major
 * `vec`), so the factored inverse is `(G + c_G I)⁻¹ V (A + c_A I)⁻¹`.
 */
export function dampedKroneckerSolve(g: Tensor, a: Tensor, v: Tensor, damping: number, rule: KroneckerDampingRule): Tensor {
  if (rule === 'exact') {
    const { eigenvalues: gValues, eigenvectors: gVectors } = linalg.eigh(g);
    const { eigenvalues: aValues, eigenvectors: aVectors } = linalg.eigh(a);
    // In the eigenbases G ⊗ A + λI is diagonal, with entries λ_G,i · λ_A,j + λ.
    const rotated = matmul(matmul(gVectors, v, true, false), aVectors);
    const scaled = div(rotated, add(mul(unsqueeze(gValues, -1), unsqueeze(aValues, -2)), damping));
    return matmul(matmul(gVectors, scaled), aVectors, false, true);
  }
  const [gShift, aShift] = piShifts(g, a, damping);
  const gv = linalg.choleskySolve(v, linalg.cholesky(addToDiagonals(g, gShift)));
  return transpose(linalg.choleskySolve(transpose(gv), linalg.cholesky(addToDiagonals(a, aShift))));
}

/** The π-corrected shares of the damping, `[π√λ, √λ/π]`, one per block of the stacks `g` and `a`. */
function piShifts(g: Tensor, a: Tensor, damping: number): [number[], number[]] {
  const [gMeans, aMeans] = [meanEigenvalues(g), meanEigenvalues(a)];
  const root = Math.sqrt(damping);
  const pis = gMeans.map((gMean, i) => (gMean > 0 && aMeans[i]! > 0 ? Math.sqrt(gMean / aMeans[i]!) : 1));
  return [pis.map((pi) => root * pi), pis.map((pi) => root / pi)];
}

/** `tr M / n` of each matrix of a stack `[..., n, n]`. */
function meanEigenvalues(m: Tensor): number[] {
  const n = m.shape[m.rank - 1]!;
  const values = m.toArray();
  return Array.from({ length: m.size / (n * n) }, (_, b) => {
    let trace = 0;
    for (let i = 0; i < n; i++) trace += values[b * n * n + i * n + i]!;
    return trace / n;
  });
}

/** `M + shift_b I` for each matrix b of a stack `[..., n, n]`. */
function addToDiagonals(m: Tensor, shifts: readonly number[]): Tensor {
  const n = m.shape[m.rank - 1]!;
  const perMatrix = tensor(shifts, [...m.shape.slice(0, -2), 1, 1], like(m));
  return add(m, mul(perMatrix, eye(n, like(m))));
}

function like(t: Tensor): { backend: Tensor['backend']; dtype: Tensor['dtype'] } {
  return { backend: t.backend, dtype: t.dtype };
}
