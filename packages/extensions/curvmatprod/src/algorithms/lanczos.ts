import { rejectUnknownOptions, tensor, type Tensor } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';
import { LanczosProcess } from './lanczos-process.js';
import { checkNonNegative, checkOnNonConvergence, type OnNonConvergence } from './non-convergence.js';
import { dot, squareSize } from './operator-products.js';
import { RANDOM_OPTIONS, checkCount, generatorFrom, type RandomOptions } from './random-probes.js';
import { tridiagonalEigen } from './small-dense.js';

/** Options of {@link lanczosEigenvalues}. */
export interface LanczosOptions extends RandomOptions {
  /** How many eigenvalues (default 1). */
  readonly k?: number;
  /** The `k` largest (algebraically, the default) or the `k` smallest. */
  readonly which?: 'largest' | 'smallest';
  /** The most products (Lanczos steps); default `n`, after which the result is exact. */
  readonly maxIterations?: number;
  /**
   * Convergence: each wanted Ritz pair's residual `‖A y − θ y‖` at most
   * `tolerance` times the largest |Ritz value|. Default 1e-10 (1e-5 for
   * float32 operators).
   */
  readonly tolerance?: number;
  /** Also return the Ritz vectors (default false). */
  readonly returnEigenvectors?: boolean;
  /** At `maxIterations` without convergence: `'throw'` (default) or `'return'` with `converged: false`. */
  readonly onNonConvergence?: OnNonConvergence;
}

/** The extreme eigenvalues found by {@link lanczosEigenvalues}. */
export interface LanczosResult {
  /** The `k` eigenvalues, ascending (as `linalg.eigh`). */
  readonly eigenvalues: number[];
  /** `[n, k]`: the unit Ritz vectors, column `i` for eigenvalue `i`, on the operator's backend and dtype (with `returnEigenvectors`). */
  readonly eigenvectors?: Tensor;
  /** `‖A y − θ y‖` of each returned pair. */
  readonly residualNorms: number[];
  /** Lanczos steps taken (one product each). */
  readonly iterations: number;
  /** Whether every pair met the tolerance (always true at `n` steps). */
  readonly converged: boolean;
}

/** Steps between convergence checks (each solves the tridiagonal eigenproblem). */
const CHECK_EVERY = 5;

/**
 * The `k` largest or smallest eigenvalues of a symmetric operator by the
 * Lanczos method with full reorthogonalisation, from a random start vector,
 * stopping when the wanted Ritz pairs' residuals meet the tolerance. A
 * breakdown (an invariant subspace) restarts with a fresh orthogonal vector,
 * so repeated eigenvalues are found with their multiplicity.
 */
export function lanczosEigenvalues(operator: LinearOperator, options: LanczosOptions = {}): LanczosResult {
  const owner = 'lanczosEigenvalues';
  rejectUnknownOptions(owner, options, ['k', 'which', 'maxIterations', 'tolerance', 'returnEigenvectors', 'onNonConvergence', ...RANDOM_OPTIONS]);
  const n = squareSize(owner, operator);
  const k = checkCount(owner, 'k', options.k ?? 1, 1);
  if (k > n) throw new RangeError(`${owner}: k = ${k} eigenvalues asked of an operator of size ${n}`);
  const which = options.which ?? 'largest';
  if (which !== 'largest' && which !== 'smallest') throw new RangeError(`${owner}: which must be 'largest' or 'smallest', got '${String(which)}'`);
  const maxIterations = checkCount(owner, 'maxIterations', options.maxIterations ?? n, k);
  const tolerance = checkNonNegative(owner, 'tolerance', options.tolerance ?? (operator.dtype === 'float32' ? 1e-5 : 1e-10));
  const onNonConvergence = checkOnNonConvergence(owner, options.onNonConvergence ?? 'throw');
  const generator = generatorFrom(owner, options);

  const start = Float64Array.from({ length: n }, () => generator.nextNormal());
  const norm = Math.sqrt(dot(start, start));
  const process = new LanczosProcess(owner, operator, start.map((x) => x / norm), { mode: 'restart', generator });
  for (;;) {
    process.step();
    const steps = process.alpha.length;
    const last = !process.canStep || steps >= maxIterations;
    if (steps < k || (!last && steps % CHECK_EVERY !== 0)) continue;
    const ritz = ritzPairs(operator, process, k, which);
    const largest = Math.max(...Array.from(ritz.values, Math.abs));
    const converged = !process.canStep || ritz.residualNorms.every((r) => r <= tolerance * largest);
    if (!converged && !last) continue;
    if (!converged && onNonConvergence === 'throw') {
      throw new Error(
        `${owner}: the ${k} ${which} eigenvalues did not converge in ${steps} steps (residuals ${ritz.residualNorms.map((r) => r.toExponential(2)).join(', ')}; ` +
          `tolerance ${tolerance} x ${largest.toExponential(3)}); raise maxIterations or tolerance, or pass onNonConvergence: 'return'`,
      );
    }
    const result = { eigenvalues: ritz.wanted.map((i) => ritz.values[i]!), residualNorms: ritz.residualNorms, iterations: steps, converged };
    return options.returnEigenvectors === true ? { ...result, eigenvectors: ritzVectors(operator, process.basis, ritz, n) } : result;
  }
}

interface RitzPairs {
  /** All Ritz values, ascending. */
  readonly values: Float64Array;
  /** The eigenvectors of `T`, `[m, m]` row-major. */
  readonly vectors: Float64Array;
  /** Indices of the wanted values, ascending. */
  readonly wanted: number[];
  /** `|β_last · y_last,i|`: the residual norm of each wanted pair. */
  readonly residualNorms: number[];
}

function ritzPairs(operator: LinearOperator, process: LanczosProcess, k: number, which: 'largest' | 'smallest'): RitzPairs {
  const { values, vectors } = tridiagonalEigen(operator, process.alpha, process.beta);
  const m = values.length;
  const wanted = Array.from({ length: k }, (_, i) => (which === 'largest' ? m - k + i : i));
  const betaLast = process.beta[m - 1]!;
  const residualNorms = wanted.map((i) => Math.abs(betaLast * vectors[(m - 1) * m + i]!));
  return { values, vectors, wanted, residualNorms };
}

function ritzVectors(operator: LinearOperator, basis: readonly Float64Array[], ritz: RitzPairs, n: number): Tensor {
  const m = basis.length;
  const k = ritz.wanted.length;
  const data = new Float64Array(n * k);
  ritz.wanted.forEach((index, c) => {
    basis.forEach((v, j) => {
      const weight = ritz.vectors[j * m + index]!;
      for (let i = 0; i < n; i++) data[i * k + c]! += weight * v[i]!;
    });
  });
  return tensor(data, [n, k], { backend: operator.backend, dtype: operator.dtype });
}
