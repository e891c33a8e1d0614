/**
 * Central finite differences, the independent reference for every derivative
 * in core: Jacobians built column by column from forward passes only.
 */
import { tensor, type Parameter, type Tensor } from '@backpack-ts/core';
import { randomNumbers } from './tensors.js';

/** A Jacobian as a row-major `[rows, cols]` array: rows are outputs, columns inputs. */
export interface Jacobian {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/** The step used everywhere: balances truncation (h²) and rounding (eps / h) error in float64. */
export const STEP = 1e-6;

/** d f(x)_i / d x_j by central differences, one pair of evaluations per column j. */
export function numericJacobian(f: (x: Float64Array) => ArrayLike<number>, at: ArrayLike<number>, h = STEP): Jacobian {
  const x = Float64Array.from(at);
  const rows = f(x).length;
  const cols = x.length;
  const data = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) {
    const original = x[j]!;
    x[j] = original + h;
    const plus = Float64Array.from(f(x));
    x[j] = original - h;
    const minus = Float64Array.from(f(x));
    x[j] = original;
    for (let i = 0; i < rows; i++) data[i * cols + j] = (plus[i]! - minus[i]!) / (2 * h);
  }
  return { rows, cols, data };
}

/** Jacobian of `evaluate(x)` w.r.t. the tensor `x` (same backend and dtype for the perturbed copies). */
export function tensorJacobian(evaluate: (x: Tensor) => Tensor, x: Tensor, h = STEP): Jacobian {
  const like = { backend: x.backend, dtype: x.dtype };
  return numericJacobian((data) => evaluate(tensor(data, x.shape, like)).toArray(), x.toArray(), h);
}

/**
 * Jacobian of `evaluate()` w.r.t. the entries of a parameter, perturbed by
 * assigning new tensors to `parameter.data`; the original tensor is restored.
 */
export function parameterJacobian(parameter: Parameter, evaluate: () => Tensor, h = STEP): Jacobian {
  const original = parameter.data;
  const like = { backend: original.backend, dtype: original.dtype };
  try {
    return numericJacobian(
      (data) => {
        parameter.data = tensor(data, original.shape, like);
        return evaluate().toArray();
      },
      original.toArray(),
      h,
    );
  } finally {
    parameter.data = original;
  }
}

/** `mat` `[V, rows]` times the Jacobian: `[V, cols]`, flat. The transposed-Jacobian product in row form. */
export function matTimesJacobian(mat: ArrayLike<number>, jacobian: Jacobian): Float64Array {
  const { rows, cols, data } = jacobian;
  const v = mat.length / rows;
  const out = new Float64Array(v * cols);
  for (let k = 0; k < v; k++) {
    for (let i = 0; i < rows; i++) {
      const m = mat[k * rows + i]!;
      for (let j = 0; j < cols; j++) out[k * cols + j] += m * data[i * cols + j]!;
    }
  }
  return out;
}

/**
 * Per-sample version of {@link matTimesJacobian}: the Jacobian's rows are
 * `batch` samples' outputs, one block each; entry `[v, n, j]` only uses the
 * rows of sample n (sample n's contribution to the derivative).
 */
export function perSampleMatTimesJacobian(mat: ArrayLike<number>, jacobian: Jacobian, batch: number): Float64Array {
  const { rows, cols, data } = jacobian;
  const perSample = rows / batch;
  const v = mat.length / rows;
  const out = new Float64Array(v * batch * cols);
  for (let k = 0; k < v; k++) {
    for (let n = 0; n < batch; n++) {
      for (let r = 0; r < perSample; r++) {
        const i = n * perSample + r;
        const m = mat[k * rows + i]!;
        for (let j = 0; j < cols; j++) out[(k * batch + n) * cols + j] += m * data[i * cols + j]!;
      }
    }
  }
  return out;
}

/**
 * KFRA's batch average `(1/N) Σ_n J_nᵀ M J_n` written out, from the full
 * Jacobian of a batched forward pass (block-diagonal over the `batch`
 * samples: sample n's block is rows `n·dOut..`, columns `n·dIn..`) and a
 * `[dOut, dOut]` matrix `mat`; returns `[dIn, dIn]`, flat.
 */
export function batchAveragedJacTMatJac(jacobian: Jacobian, mat: ArrayLike<number>, batch: number): Float64Array {
  const [dOut, dIn] = [jacobian.rows / batch, jacobian.cols / batch];
  const out = new Float64Array(dIn * dIn);
  for (let s = 0; s < batch; s++) {
    const j = (r: number, c: number) => jacobian.data[(s * dOut + r) * jacobian.cols + s * dIn + c]!;
    // M J_s, then J_sᵀ (M J_s); zero Jacobian entries are skipped (convolutions and pools are sparse).
    const mj = new Float64Array(dOut * dIn);
    for (let q = 0; q < dOut; q++) {
      for (let b = 0; b < dIn; b++) {
        const jqb = j(q, b);
        if (jqb === 0) continue;
        for (let r = 0; r < dOut; r++) mj[r * dIn + b] += mat[r * dOut + q]! * jqb;
      }
    }
    for (let r = 0; r < dOut; r++) {
      for (let a = 0; a < dIn; a++) {
        const jra = j(r, a);
        if (jra === 0) continue;
        for (let b = 0; b < dIn; b++) out[a * dIn + b] += (jra * mj[r * dIn + b]!) / batch;
      }
    }
  }
  return out;
}

/** A random symmetric `[size, size]` matrix, flat (entries in [-1, 1)). */
export function randomSymmetric(size: number, seed: number): number[] {
  const m = randomNumbers(size * size, seed);
  return Array.from({ length: size * size }, (_, i) => (m[i]! + m[(i % size) * size + Math.floor(i / size)]!) / 2);
}

/**
 * f'(x) of an elementwise function by central differences, every entry
 * shifted at once (valid because output i depends on input i only).
 */
export function elementwiseDerivative(f: (x: Tensor) => Tensor, x: Tensor, h = STEP): Float64Array {
  const like = { backend: x.backend, dtype: x.dtype };
  const at = x.toArray();
  const shifted = (delta: number) => f(tensor(Array.from(at, (v) => v + delta), x.shape, like)).toArray();
  const [plus, minus] = [shifted(h), shifted(-h)];
  return Float64Array.from(plus, (p, i) => (p - minus[i]!) / (2 * h));
}
