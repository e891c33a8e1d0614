import type { Generator } from '@backpack-ts/core';
import type { LinearOperator } from '../linear-operator.js';
import { applyToVector, axpy, dot } from './operator-products.js';

/** What the process does when the Krylov space becomes invariant (the residual vanishes). */
export type LanczosBreakdown = 'stop' | 'restart';

/**
 * The Lanczos process with full reorthogonalisation: each step (one product)
 * extends an orthonormal basis `V` of the Krylov space of a unit start vector
 * and the tridiagonal `T = Vᵀ A V` (diagonal `alpha`, off-diagonal `beta`).
 * Each new vector is orthogonalised against every earlier one, twice, so `V`
 * stays orthonormal to rounding and no spurious copies of eigenvalues appear.
 *
 * When the space becomes invariant, `'stop'` ends the process (the quadrature
 * of that start vector is then exact); `'restart'` goes on with a random
 * vector orthogonal to the basis, coupled by `beta = 0`, so that `n` steps
 * find every eigenvalue, repeated ones included.
 */
export class LanczosProcess {
  /** `T`'s diagonal, one entry per step. */
  readonly alpha: number[] = [];
  /** `beta[j]` couples steps `j` and `j + 1`; the last entry is the norm of the residual after the last step. */
  readonly beta: number[] = [];
  /** The orthonormal basis vectors, one per step. */
  readonly basis: Float64Array[] = [];
  private next: Float64Array | undefined;
  private scale = 0;
  private readonly eps: number;

  constructor(
    private readonly owner: string,
    private readonly operator: LinearOperator,
    start: Float64Array,
    private readonly breakdown: { mode: LanczosBreakdown; generator: Generator },
  ) {
    this.next = start;
    this.eps = operator.dtype === 'float32' ? 2 ** -23 : 2 ** -52;
  }

  /** Whether another step can be taken (not after a `'stop'` breakdown, nor once the basis spans the whole space). */
  get canStep(): boolean {
    return this.next !== undefined;
  }

  /** Takes one step (one product with the operator). */
  step(): void {
    const q = this.next;
    if (q === undefined) throw new Error(`${this.owner}: the Lanczos process cannot take another step`);
    this.basis.push(q);
    const w = applyToVector(this.owner, this.operator, q);
    this.scale = Math.max(this.scale, Math.sqrt(dot(w, w)));
    this.alpha.push(dot(q, w));
    orthogonalise(w, this.basis);
    const norm = Math.sqrt(dot(w, w));
    const n = q.length;
    // A vanishing residual is judged against the largest product norm seen, at the operator's precision.
    const invariant = norm <= n * this.eps * this.scale;
    this.beta.push(invariant ? 0 : norm);
    if (this.basis.length === n || (invariant && this.breakdown.mode === 'stop')) this.next = undefined;
    else this.next = invariant ? randomOrthogonalUnit(this.breakdown.generator, this.basis) : w.map((x) => x / norm);
  }
}

/** Removes from `w` its components along the orthonormal `basis`, in two passes of Gram-Schmidt (one is not enough in floating point). */
function orthogonalise(w: Float64Array, basis: readonly Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) for (const q of basis) axpy(-dot(q, w), q, w);
}

/** A random unit vector orthogonal to `basis` (which spans less than the whole space). */
function randomOrthogonalUnit(generator: Generator, basis: readonly Float64Array[]): Float64Array {
  const n = basis[0]!.length;
  for (;;) {
    const v = Float64Array.from({ length: n }, () => generator.nextNormal());
    orthogonalise(v, basis);
    const norm = Math.sqrt(dot(v, v));
    // A random vector keeps a fair part of its norm off a proper subspace; draw again in the unlikely other case.
    if (norm > 1e-3) return v.map((x) => x / norm);
  }
}
