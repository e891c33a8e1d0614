/** Dense matrices as arrays of rows, for reference computations written out plainly. */
export type Matrix = number[][];

/** The `rows x rows` matrix of a row-major array. */
export function matrixOf(values: ArrayLike<number>, rows: number): Matrix {
  const columns = values.length / rows;
  return Array.from({ length: rows }, (_, i) => Array.from({ length: columns }, (_, j) => values[i * columns + j]!));
}

/** `M + c I`. */
export function plusIdentity(m: Matrix, c: number): Matrix {
  return m.map((row, i) => row.map((x, j) => (i === j ? x + c : x)));
}

/** The Kronecker product `A ⊗ B`: entry `[(i, k), (j, l)] = A[i][j] · B[k][l]`. */
export function kron(a: Matrix, b: Matrix): Matrix {
  const [p, q] = [b.length, b[0]!.length];
  return Array.from({ length: a.length * p }, (_, r) =>
    Array.from({ length: a[0]!.length * q }, (_, c) => a[Math.floor(r / p)]![Math.floor(c / q)]! * b[r % p]![c % q]!),
  );
}

/** The block-diagonal matrix of `blocks`. */
export function blockDiagonal(blocks: readonly Matrix[]): Matrix {
  const n = blocks.reduce((total, b) => total + b.length, 0);
  const out = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  let offset = 0;
  for (const block of blocks) {
    block.forEach((row, i) => row.forEach((x, j) => (out[offset + i]![offset + j] = x)));
    offset += block.length;
  }
  return out;
}

/** The solution of `M x = b` by Gaussian elimination with partial pivoting. */
export function solveDense(m: Matrix, b: readonly number[]): number[] {
  const n = m.length;
  const a = m.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = a[r]![col]! / a[col]![col]!;
      for (let c = col; c <= n; c++) a[r]![c]! -= f * a[col]![c]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r]![n]!;
    for (let c = r + 1; c < n; c++) s -= a[r]![c]! * x[c]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}

/** `tr M / n`. */
export function meanDiagonal(m: Matrix): number {
  return m.reduce((sum, row, i) => sum + row[i]!, 0) / m.length;
}

/** A row-major array of shape `[d0, d1, ...rest]` with its first two axes swapped. */
export function swapFirstAxes(values: readonly number[], d0: number, d1: number): number[] {
  const rest = values.length / (d0 * d1);
  const out = new Array<number>(values.length);
  for (let i = 0; i < d0; i++) for (let j = 0; j < d1; j++) for (let r = 0; r < rest; r++) out[(j * d0 + i) * rest + r] = values[(i * d1 + j) * rest + r]!;
  return out;
}
