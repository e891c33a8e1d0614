/**
 * LU factorisation with partial pivoting, `P A = L U`, of one `n x n`
 * matrix: the shared step of `linalg.solve` and `linalg.inv`.
 */
export interface LUFactors {
  /** `L` below the diagonal (unit diagonal implied) and `U` on and above it, row-major. */
  readonly lu: Float64Array;
  /** Row `i` of `P A` is row `pivots[i]` of `A`. */
  readonly pivots: Int32Array;
}

/**
 * Factorises the `n x n` matrix at `offset` in `a`. Returns the column whose
 * pivot is exactly zero when the matrix is singular (as LAPACK's `getrf`).
 */
export function luFactor(a: Float64Array, offset: number, n: number): LUFactors | { singularColumn: number } {
  const lu = a.slice(offset, offset + n * n);
  const pivots = Int32Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < n; k++) {
    let best = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(lu[i * n + k]!) > Math.abs(lu[best * n + k]!)) best = i;
    if (lu[best * n + k] === 0) return { singularColumn: k };
    if (best !== k) {
      for (let j = 0; j < n; j++) {
        const t = lu[k * n + j]!;
        lu[k * n + j] = lu[best * n + j]!;
        lu[best * n + j] = t;
      }
      const p = pivots[k]!;
      pivots[k] = pivots[best]!;
      pivots[best] = p;
    }
    const pivot = lu[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const factor = (lu[i * n + k]! /= pivot);
      if (factor === 0) continue;
      for (let j = k + 1; j < n; j++) lu[i * n + j]! -= factor * lu[k * n + j]!;
    }
  }
  return { lu, pivots };
}

/**
 * Solves `A X = B` for the `n x k` right-hand sides at `offset` in `b`
 * (row-major), writing `X` into `x` at `xOffset`.
 */
export function luSolve(factors: LUFactors, n: number, b: Float64Array, offset: number, k: number, x: Float64Array, xOffset: number): void {
  const { lu, pivots } = factors;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) x[xOffset + i * k + c] = b[offset + pivots[i]! * k + c]!;
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const factor = lu[i * n + j]!;
      if (factor !== 0) for (let c = 0; c < k; c++) x[xOffset + i * k + c]! -= factor * x[xOffset + j * k + c]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let j = i + 1; j < n; j++) {
      const factor = lu[i * n + j]!;
      if (factor !== 0) for (let c = 0; c < k; c++) x[xOffset + i * k + c]! -= factor * x[xOffset + j * k + c]!;
    }
    const diagonal = lu[i * n + i]!;
    for (let c = 0; c < k; c++) x[xOffset + i * k + c]! /= diagonal;
  }
}
