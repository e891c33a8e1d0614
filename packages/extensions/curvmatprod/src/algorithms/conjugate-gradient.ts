import { assertFloat, formatShape, rejectUnknownOptions, shapesEqual, tensor, type Tensor } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';
import { checkNonNegative, checkOnNonConvergence, type OnNonConvergence } from './non-convergence.js';
import { applyOperator, column, dot, squareSize, stackColumns } from './operator-products.js';
import { checkCount } from './random-probes.js';

/** Options of {@link conjugateGradient}. */
export interface ConjugateGradientOptions {
  /** `λ` in `(A + λ I) x = b` (default 0). */
  readonly damping?: number;
  /** Stop once each residual `‖b − (A + λI) x‖` is at most `tolerance · ‖b‖` (default 1e-6) ... */
  readonly tolerance?: number;
  /** ... or at most `absoluteTolerance` (default 0). */
  readonly absoluteTolerance?: number;
  /** The most iterations, one product with the operator each (default `10 n`). */
  readonly maxIterations?: number;
  /** The start, of `b`'s shape (default zeros; costs one more product). */
  readonly x0?: Tensor;
  /** At `maxIterations` without convergence: `'throw'` (default) or `'return'` with `converged: false`. */
  readonly onNonConvergence?: OnNonConvergence;
  /**
   * When a search direction `p` has `pᵀ(A + λI)p <= 0` (an indefinite system,
   * such as a Hessian's): `'throw'` (default), or `'stop'` that right-hand
   * side and keep its iterate so far, or `x0 + p` if it is the first
   * iteration (truncated Newton-CG, Nocedal and Wright's Algorithm 7.1:
   * the steepest-descent direction when no progress was made).
   */
  readonly onNonPositiveCurvature?: 'throw' | 'stop';
}

/** The result of {@link conjugateGradient}. */
export interface ConjugateGradientResult {
  /** `x`, of `b`'s shape, on the operator's backend and dtype. */
  readonly solution: Tensor;
  /** Iterations run (products with the operator, besides one for `x0`). */
  readonly iterations: number;
  /** The final residual norm `‖b − (A + λI) x‖` of each right-hand side, as CG updates it. */
  readonly residualNorms: number[];
  /** Whether every right-hand side met its tolerance. */
  readonly converged: boolean;
  /** For each right-hand side, whether it was stopped by a direction of non-positive curvature (`onNonPositiveCurvature: 'stop'`). */
  readonly nonPositiveCurvature: boolean[];
}

/**
 * Solves `(A + λ I) x = b` for a symmetric positive definite `A + λ I` by
 * conjugate gradients, given only products with `A`: a Newton or
 * natural-gradient step with a curvature operator. `b` is `[n]` or `[n, K]`
 * (`K` right-hand sides solved together, one product per iteration for all
 * those not yet converged).
 *
 * Throws when a search direction has non-positive curvature (`A + λI` is not
 * positive definite: add damping, or use a positive semi-definite curvature
 * such as the GGN), unless `onNonPositiveCurvature: 'stop'` asks for the
 * truncated solve of Newton-CG.
 */
export function conjugateGradient(operator: LinearOperator, b: Tensor, options: ConjugateGradientOptions = {}): ConjugateGradientResult {
  const owner = 'conjugateGradient';
  rejectUnknownOptions(owner, options, ['damping', 'tolerance', 'absoluteTolerance', 'maxIterations', 'x0', 'onNonConvergence', 'onNonPositiveCurvature']);
  const n = squareSize(owner, operator);
  const damping = checkNonNegative(owner, 'damping', options.damping ?? 0);
  const tolerance = checkNonNegative(owner, 'tolerance', options.tolerance ?? 1e-6);
  const absoluteTolerance = checkNonNegative(owner, 'absoluteTolerance', options.absoluteTolerance ?? 0);
  const maxIterations = checkCount(owner, 'maxIterations', options.maxIterations ?? 10 * n, 0);
  const onNonConvergence = checkOnNonConvergence(owner, options.onNonConvergence ?? 'throw');
  const onNonPositiveCurvature = options.onNonPositiveCurvature ?? 'throw';
  if (onNonPositiveCurvature !== 'throw' && onNonPositiveCurvature !== 'stop') {
    throw new RangeError(`${owner}: onNonPositiveCurvature must be 'throw' or 'stop', got '${String(onNonPositiveCurvature)}'`);
  }
  const count = checkRightHandSide(owner, operator, b, 'b');
  if (options.x0 !== undefined) {
    checkRightHandSide(owner, operator, options.x0, 'x0');
    if (!shapesEqual(options.x0.shape, b.shape)) throw new RangeError(`${owner}: x0 of shape ${formatShape(options.x0.shape)} differs from b's ${formatShape(b.shape)}`);
  }

  /** `(A + λI) X` for columns `X`. */
  const apply = (columns: readonly Float64Array[]): Float64Array[] => {
    const products = applyOperator(owner, operator, stackColumns(columns, n), columns.length);
    return columns.map((x, c) => column(products, n, columns.length, c).map((y, i) => y + damping * x[i]!));
  };
  const bData = Float64Array.from(b.toArray());
  const rhs = Array.from({ length: count }, (_, c) => column(bData, n, count, c));
  const x = options.x0 === undefined ? rhs.map(() => new Float64Array(n)) : columnsOf(options.x0, n, count);
  const r = options.x0 === undefined ? rhs.map((v) => v.slice()) : apply(x).map((ax, c) => rhs[c]!.map((v, i) => v - ax[i]!));
  const p = r.map((v) => v.slice());
  const squaredNorms = r.map((v) => dot(v, v));
  const thresholds = rhs.map((v) => Math.max(tolerance * Math.sqrt(dot(v, v)), absoluteTolerance));
  const stopped = rhs.map(() => false);
  const stepsTaken = rhs.map(() => 0);
  const active = () => squaredNorms.flatMap((s, c) => (!stopped[c] && Math.sqrt(s) > thresholds[c]! ? [c] : []));

  let iterations = 0;
  for (let working = active(); working.length > 0 && iterations < maxIterations; working = active()) {
    iterations++;
    const q = apply(working.map((c) => p[c]!));
    working.forEach((c, j) => {
      const curvature = dot(p[c]!, q[j]!);
      if (!(curvature > 0) && onNonPositiveCurvature === 'stop') {
        if (stepsTaken[c] === 0) {
          // x ← x0 + p, r ← r0 − (A + λI) p: the residual stays the true one.
          const [xc, rc, pc, qc] = [x[c]!, r[c]!, p[c]!, q[j]!];
          for (let i = 0; i < n; i++) {
            xc[i]! += pc[i]!;
            rc[i]! -= qc[i]!;
          }
          squaredNorms[c] = dot(rc, rc);
        }
        stopped[c] = true;
        return;
      }
      if (!(curvature > 0)) {
        throw new RangeError(
          `${owner}: A + ${damping}·I is not positive definite: the search direction of iteration ${iterations} (right-hand side ${c}) has curvature pᵀ(A + λI)p = ${curvature}; ` +
            'add damping, or use a positive semi-definite curvature (GGN, Fisher, PCH)',
        );
      }
      const step = squaredNorms[c]! / curvature;
      const [xc, rc, pc, qc] = [x[c]!, r[c]!, p[c]!, q[j]!];
      for (let i = 0; i < n; i++) {
        xc[i]! += step * pc[i]!;
        rc[i]! -= step * qc[i]!;
      }
      const next = dot(rc, rc);
      const beta = next / squaredNorms[c]!;
      for (let i = 0; i < n; i++) pc[i] = rc[i]! + beta * pc[i]!;
      squaredNorms[c] = next;
      stepsTaken[c]!++;
    });
  }
  const residualNorms = squaredNorms.map(Math.sqrt);
  const unfinished = active().length > 0;
  const converged = !unfinished && !stopped.includes(true);
  if (unfinished && onNonConvergence === 'throw') {
    const worst = residualNorms.map((norm, c) => `${norm.toExponential(3)} (needs ${thresholds[c]!.toExponential(3)})`);
    throw new Error(
      `${owner}: no convergence in ${maxIterations} iterations: residual norms ${worst.join(', ')}; raise maxIterations or damping, or pass onNonConvergence: 'return'`,
    );
  }
  const solution = tensor(stackColumns(x, n), b.shape, { backend: operator.backend, dtype: operator.dtype });
  return { solution, iterations, residualNorms, converged, nonPositiveCurvature: stopped };
}

/** Throws unless `v` is `[n]` or `[n, K]` on the operator's backend and float; returns `K` (1 for a vector). */
function checkRightHandSide(owner: string, operator: LinearOperator, v: Tensor, name: string): number {
  const n = operator.shape[1];
  if ((v.rank !== 1 && v.rank !== 2) || v.shape[0] !== n) {
    throw new RangeError(`${owner}: ${name} must be [${n}] or [${n}, K] for an operator of shape [${n}, ${n}], got ${formatShape(v.shape)}`);
  }
  if (v.backend !== operator.backend) throw new Error(`${owner}: ${name} lives on backend '${v.backend.name}', the operator on '${operator.backend.name}'`);
  assertFloat(owner, v);
  return v.rank === 1 ? 1 : v.shape[1]!;
}

function columnsOf(v: Tensor, n: number, count: number): Float64Array[] {
  const data = Float64Array.from(v.toArray());
  return Array.from({ length: count }, (_, c) => column(data, n, count, c));
}
