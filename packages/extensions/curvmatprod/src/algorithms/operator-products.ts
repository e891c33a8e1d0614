import { formatShape, tensor, type Tensor } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';

/**
 * The algorithms keep their vectors in float64 arrays (sums accumulate in
 * float64 whatever the operator's dtype) and meet the operator only through
 * products: these helpers move columns to the operator's backend and back.
 */

/** Throws unless `operator` is square (the algorithms need `A` symmetric); returns its size. */
export function squareSize(owner: string, operator: LinearOperator): number {
  const [rows, columns] = operator.shape;
  if (rows !== columns) throw new RangeError(`${owner}: the operator must be square, got shape [${rows}, ${columns}]`);
  return rows;
}

/**
 * `A X` for the `K` columns `X` (`[n, K]`, row-major): uploads them in the
 * operator's backend and dtype, multiplies, reads the product back and
 * disposes both tensors.
 */
export function applyOperator(owner: string, operator: LinearOperator, columns: Float64Array, count: number): Float64Array {
  const n = operator.shape[1];
  const x = tensor(columns, [n, count], { backend: operator.backend, dtype: operator.dtype });
  let product: Tensor | undefined;
  try {
    product = operator.matmat(x);
    const expected = [operator.shape[0], count];
    if (product.shape.length !== 2 || product.shape[0] !== expected[0] || product.shape[1] !== expected[1]) {
      throw new RangeError(`${owner}: the operator's matmat returned shape ${formatShape(product.shape)} for input [${n}, ${count}]; expected ${formatShape(expected)}`);
    }
    return Float64Array.from(product.toArray());
  } finally {
    x.dispose();
    product?.dispose();
  }
}

/** `A v` for one vector. */
export function applyToVector(owner: string, operator: LinearOperator, v: Float64Array): Float64Array {
  return applyOperator(owner, operator, v, 1);
}

/** Column `j` of the row-major `[n, K]` array `x`. */
export function column(x: Float64Array, n: number, count: number, j: number): Float64Array {
  const result = new Float64Array(n);
  for (let i = 0; i < n; i++) result[i] = x[i * count + j]!;
  return result;
}

/** The columns `vectors` (each of length `n`) as one row-major `[n, K]` array. */
export function stackColumns(vectors: readonly Float64Array[], n: number): Float64Array {
  const count = vectors.length;
  const result = new Float64Array(n * count);
  vectors.forEach((v, j) => {
    for (let i = 0; i < n; i++) result[i * count + j] = v[i]!;
  });
  return result;
}

/** `x_jᵀ y_j` for each of the `count` columns of the row-major `[n, count]` arrays `x` and `y`. */
export function columnDots(x: Float64Array, y: Float64Array, n: number, count: number): number[] {
  const dots = new Array<number>(count).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < count; j++) dots[j]! += x[i * count + j]! * y[i * count + j]!;
  return dots;
}

/** `xᵀ y`. */
export function dot(x: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * y[i]!;
  return sum;
}

/** `y += a x`, in place. */
export function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i]! += a * x[i]!;
}
