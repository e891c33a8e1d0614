/**
 * Dense matrices built entry by entry in the tests, the independent side of
 * every comparison: plain `number[][]` arithmetic, Jacobians and Hessians
 * assembled one row or column at a time from ordinary backward passes or from
 * central differences of gradients.
 */
import { expect } from 'vitest';
import { concat, grad, mul, reshape, sum, tensor, type Parameter, type Tensor } from '@backpack-ts/core';

/** Rows of numbers. */
export type Matrix = number[][];

/** Every entry of the tensors, flattened and concatenated. */
export function flatValues(tensors: readonly Tensor[]): number[] {
  return tensors.flatMap((t) => Array.from(t.toArray() as ArrayLike<number>));
}

export function zerosMatrix(rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
}

export function transposeMatrix(a: Matrix): Matrix {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

export function matMul(a: Matrix, b: Matrix): Matrix {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
}

export function matVec(a: Matrix, v: readonly number[]): number[] {
  return a.map((row) => row.reduce((s, x, k) => s + x * v[k]!, 0));
}

export function addMatrices(a: Matrix, b: Matrix, scaleB = 1): Matrix {
  return a.map((row, i) => row.map((x, j) => x + scaleB * b[i]![j]!));
}

export function scaleMatrix(a: Matrix, s: number): Matrix {
  return a.map((row) => row.map((x) => x * s));
}

/** Block-diagonal matrix of square blocks. */
export function blockDiagonal(blocks: readonly Matrix[]): Matrix {
  const n = blocks.reduce((s, b) => s + b.length, 0);
  const out = zerosMatrix(n, n);
  let offset = 0;
  for (const block of blocks) {
    block.forEach((row, i) => row.forEach((x, j) => (out[offset + i]![offset + j] = x)));
    offset += block.length;
  }
  return out;
}

/** `a ⊗ b` (row-major vectorisation: index `(i, k)` ↦ `i·rows(b) + k`). */
export function kron(a: Matrix, b: Matrix): Matrix {
  const [p, q] = [b.length, b[0]!.length];
  return Array.from({ length: a.length * p }, (_, r) =>
    Array.from({ length: a[0]!.length * q }, (_, c) => a[Math.floor(r / p)]![Math.floor(c / q)]! * b[r % p]![c % q]!),
  );
}

/** A tensor's values as a matrix (`[rows, cols]`; a vector is a column). */
export function toMatrix(t: Tensor): Matrix {
  const values = Array.from(t.toArray() as ArrayLike<number>);
  const cols = t.rank === 1 ? 1 : t.shape[t.rank - 1]!;
  return Array.from({ length: values.length / cols }, (_, i) => values.slice(i * cols, (i + 1) * cols));
}

/** The largest absolute entry. */
export function maxAbs(a: Matrix | readonly number[]): number {
  return (a as (number | number[])[]).flat().reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

/** `max |a - b| <= tolerance · max(max|b|, tiny)` entrywise, with the worst entry in the message. */
export function expectMatrixClose(actual: Matrix | readonly number[], expected: Matrix | readonly number[], tolerance: number): void {
  const a = (actual as (number | number[])[]).flat();
  const b = (expected as (number | number[])[]).flat();
  expect(a.length).toBe(b.length);
  const scale = Math.max(maxAbs(b), 1e-300);
  let worst = 0;
  let where = -1;
  a.forEach((x, i) => {
    const error = Math.abs(x - b[i]!);
    if (error > worst) [worst, where] = [error, i];
  });
  expect(worst / scale, `worst entry ${where}: ${a[where]} vs ${b[where]} (scale ${scale})`).toBeLessThanOrEqual(tolerance);
  expect(scale, 'the reference is not all zeros').toBeGreaterThan(1e-300);
}

/** A unit vector as one tensor per parameter (the `index`-th entry of their concatenation is 1). */
export function unitVectors(parameters: readonly Parameter[], index: number): Tensor[] {
  let offset = 0;
  return parameters.map((p) => {
    const values = new Float64Array(p.data.size);
    if (index >= offset && index < offset + p.data.size) values[index - offset] = 1;
    offset += p.data.size;
    return tensor(values, p.data.shape, { backend: p.data.backend, dtype: p.data.dtype });
  });
}

/** Splits a flat vector into one tensor per parameter. */
export function splitVector(parameters: readonly Parameter[], flat: readonly number[]): Tensor[] {
  let offset = 0;
  return parameters.map((p) => {
    const part = flat.slice(offset, offset + p.data.size);
    offset += p.data.size;
    return tensor(part, p.data.shape, { backend: p.data.backend, dtype: p.data.dtype });
  });
}

/** The Jacobian `[outputs, P]` of `output()` w.r.t. the parameters, one row per output entry, each by one backward pass of that entry alone. */
export function jacobianByRows(output: () => Tensor, parameters: readonly Parameter[]): Matrix {
  const value = output();
  const rows: Matrix = [];
  for (let o = 0; o < value.size; o++) {
    const unit = new Float64Array(value.size);
    unit[o] = 1;
    const entry = sum(mul(value, tensor(unit, value.shape, { backend: value.backend, dtype: value.dtype })));
    rows.push(flatValues(grad(entry, parameters.map((p) => p.data), { retainGraph: true, allowUnused: true }).map((g, i) => g ?? mul(parameters[i]!.data, 0))));
  }
  return rows;
}

/** The Hessian `[P, P]` of `loss()`, one row per gradient entry, each the gradient of that entry alone (double backward). */
export function hessianByRows(loss: () => Tensor, parameters: readonly Parameter[]): Matrix {
  const tensors = parameters.map((p) => p.data);
  const gradients = grad(loss(), tensors, { createGraph: true });
  const flat = concat(gradients.map((g) => reshape(g!, [g!.size])), 0);
  const rows: Matrix = [];
  for (let i = 0; i < flat.size; i++) {
    const unit = new Float64Array(flat.size);
    unit[i] = 1;
    const entry = sum(mul(flat, tensor(unit, flat.shape, { backend: flat.backend, dtype: flat.dtype })));
    const row = entry.requiresGrad ? grad(entry, tensors, { retainGraph: true, allowUnused: true }) : [];
    rows.push(flatValues(tensors.map((t, j) => row[j] ?? mul(t, 0))));
  }
  return rows;
}

/** Sets every parameter from one flat vector (new tensors), runs `f`, and restores the originals. */
export function atParameters<T>(parameters: readonly Parameter[], flat: readonly number[], f: () => T): T {
  const originals = parameters.map((p) => p.data);
  try {
    splitVector(parameters, flat).forEach((value, i) => (parameters[i]!.data = value));
    return f();
  } finally {
    originals.forEach((value, i) => (parameters[i]!.data = value));
  }
}

/**
 * `d f / d θ` as a matrix `[outputs of f, P]` by central differences with one
 * Richardson step (error O(h⁴) plus rounding ~ ε/h): `f` returns numbers.
 */
export function finiteDifferenceJacobian(parameters: readonly Parameter[], f: () => number[], h = 1e-3): Matrix {
  const theta = flatValues(parameters.map((p) => p.data));
  const at = (x: number[]) => atParameters(parameters, x, f);
  const central = (j: number, step: number) => {
    const plus = [...theta];
    const minus = [...theta];
    plus[j]! += step;
    minus[j]! -= step;
    const [fp, fm] = [at(plus), at(minus)];
    return fp.map((x, i) => (x - fm[i]!) / (2 * step));
  };
  const columns = theta.map((_, j) => {
    const [coarse, fine] = [central(j, h), central(j, h / 2)];
    return fine.map((x, i) => (4 * x - coarse[i]!) / 3);
  });
  return transposeMatrix(columns);
}
