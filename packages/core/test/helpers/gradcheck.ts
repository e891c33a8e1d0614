/**
 * Checks of op derivative rules against central finite differences, through
 * the test walker (`autograd-walk.ts`). Each check throws an Error naming
 * what differs, so a test can also assert that a wrong rule is caught.
 *
 * - {@link gradcheck}: the VJP and the JVP give the whole Jacobian (the
 *   identity as a batch of cotangents or tangents, which also runs every rule
 *   with an extra leading dimension), and tangents of all inputs at once add up.
 * - {@link gradgradcheck}: the VJP's own derivatives (reverse over reverse
 *   and forward over reverse) against finite differences of the VJP.
 * - {@link batchcheck}: a batch of 3 cotangents or tangents gives what 3
 *   separate calls give, and leading dimensions `[2, 3]` what `[6]` gives.
 */
import { describe, it } from 'vitest';
import { eye, noGrad, reshape, tensor, zerosLike, type Shape, type Tensor } from '@backpack-ts/core';
import { jvpWalk, vjpWalk } from './autograd-walk.js';
import { expectClose } from './close.js';
import { STEP, tensorJacobian, type Jacobian } from './finite-differences.js';
import { randomNumbers } from './tensors.js';

export type Op = (...inputs: Tensor[]) => Tensor;

export interface GradcheckOptions {
  /** Which inputs to differentiate (default: every float input). */
  readonly wrt?: readonly number[];
  /** Relative tolerance, as {@link expectClose} reads it. */
  readonly rtol?: number;
}

/** One op at one point, for {@link checkOps}. */
export interface OpCase {
  readonly name: string;
  readonly op: Op;
  readonly inputs: readonly Tensor[];
  readonly options?: GradcheckOptions;
}

/** Declares the three checks (first derivatives, batches, second derivatives) for every case. */
export function checkOps(cases: readonly OpCase[]): void {
  describe.each(cases)('$name', ({ op, inputs, options }) => {
    it('VJP and JVP match finite differences', () => gradcheck(op, inputs, options));
    it('extra leading dimensions batch the rules', () => batchcheck(op, inputs, options));
    it('second derivatives match finite differences of the VJP', () => gradgradcheck(op, inputs, options));
  });
}

/** Finite differences in float64 with {@link STEP} agree with exact derivatives to about 1e-9 relative; 1e-6 leaves room for curvature. */
const RTOL = 1e-6;

function differentiated(inputs: readonly Tensor[], options: GradcheckOptions): number[] {
  return options.wrt !== undefined ? [...options.wrt] : inputs.flatMap((x, i) => (x.dtype === 'int32' ? [] : [i]));
}

/** Fresh leaves holding the inputs' values; those in `wrt` require gradients. */
function leaves(inputs: readonly Tensor[], wrt: readonly number[]): Tensor[] {
  return inputs.map((x, i) => {
    const copy = tensor(x.toArray(), x.shape, { backend: x.backend, dtype: x.dtype });
    return wrt.includes(i) ? copy.requiresGrad_() : copy;
  });
}

/** `[n, ...x.shape]`: the n = x.size unit vectors of x's shape, on x's backend. */
function unitBatch(x: Tensor): Tensor {
  return reshape(eye(x.size, { backend: x.backend }), [x.size, ...x.shape]);
}

function valuesOf(t: Tensor | undefined, size: number): ArrayLike<number> {
  return t === undefined ? new Float64Array(size) : t.toArray();
}

function transposed(j: Jacobian): Float64Array {
  const out = new Float64Array(j.rows * j.cols);
  for (let r = 0; r < j.rows; r++) for (let c = 0; c < j.cols; c++) out[c * j.rows + r] = j.data[r * j.cols + c]!;
  return out;
}

/** {@link expectClose}, failing with an Error that says which check differs. */
function assertClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): void {
  try {
    expectClose(actual, expected, rtol);
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
}

/** Jacobian of `evaluate` at `inputs` w.r.t. input j by central differences. */
function differencedJacobian(evaluate: (inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], j: number): Jacobian {
  return tensorJacobian((xj) => evaluate(inputs.map((x, i) => (i === j ? xj : x))), inputs[j]!, STEP);
}

function recorded(op: Op, xs: readonly Tensor[]): Tensor {
  const y = op(...xs);
  if (y.gradFn === undefined) throw new Error('the op recorded nothing');
  return y;
}

/** The VJP and JVP of `op` at `inputs` against finite differences. */
export function gradcheck(op: Op, inputs: readonly Tensor[], options: GradcheckOptions = {}): void {
  const rtol = options.rtol ?? RTOL;
  const wrt = differentiated(inputs, options);
  const xs = leaves(inputs, wrt);
  const y = recorded(op, xs);
  const jacobians = new Map(wrt.map((j) => [j, differencedJacobian((ins) => noGrad(() => op(...ins)), inputs, j)]));
  const cotangents = vjpWalk(y, unitBatch(y), wrt.map((j) => xs[j]!));
  wrt.forEach((j, k) => {
    const jac = jacobians.get(j)!;
    assertClose(`vjp w.r.t. input ${j}`, valuesOf(cotangents[k], jac.data.length), jac.data, rtol);
    const tangent = jvpWalk(y, new Map([[xs[j]!, unitBatch(xs[j]!)]]));
    assertClose(`jvp of input ${j}`, valuesOf(tangent, jac.data.length), transposed(jac), rtol);
  });
  // Tangents of every input at once: their contributions add up.
  const tangents = wrt.map((j, k) => randomLike([2], xs[j]!, 100 + k));
  const expected = new Float64Array(2 * y.size);
  wrt.forEach((j, k) => {
    const jac = jacobians.get(j)!;
    const t = tangents[k]!.toArray();
    for (let v = 0; v < 2; v++) {
      for (let r = 0; r < jac.rows; r++) {
        for (let c = 0; c < jac.cols; c++) expected[v * jac.rows + r] += jac.data[r * jac.cols + c]! * t[v * jac.cols + c]!;
      }
    }
  });
  const together = jvpWalk(y, new Map(wrt.map((j, k) => [xs[j]!, tangents[k]!])));
  assertClose('jvp of all inputs at once', valuesOf(together, expected.length), expected, rtol);
}

/**
 * Second derivatives: with a fixed cotangent g, r_j = VJP(g) w.r.t. input j
 * is a function of the inputs; its VJP and JVP (the walk recorded under
 * `createGraph`, then walked again) against finite differences of r_j.
 */
export function gradgradcheck(op: Op, inputs: readonly Tensor[], options: GradcheckOptions = {}): void {
  const rtol = options.rtol ?? RTOL;
  const wrt = differentiated(inputs, options);
  const xs = leaves(inputs, wrt);
  const y = recorded(op, xs);
  const g = randomLike([], y, 7);
  const firstOrder = vjpWalk(y, g, wrt.map((j) => xs[j]!), { createGraph: true });
  wrt.forEach((j, m) => {
    const r = firstOrder[m] ?? zerosLike(xs[j]!);
    const vjpAt = (ins: Tensor[]) => {
      const fresh = leaves(ins, wrt);
      return vjpWalk(recorded(op, fresh), g, [fresh[j]!])[0] ?? zerosLike(ins[j]!);
    };
    for (const k of wrt) {
      const jac = differencedJacobian(vjpAt, inputs, k);
      const second = vjpWalk(r, unitBatch(r), [xs[k]!])[0];
      assertClose(`vjp of (vjp w.r.t. input ${j}) w.r.t. input ${k}`, valuesOf(second, jac.data.length), jac.data, rtol);
      const forward = jvpWalk(r, new Map([[xs[k]!, unitBatch(xs[k]!)]]));
      assertClose(`jvp of (vjp w.r.t. input ${j}) of input ${k}`, valuesOf(forward, jac.data.length), transposed(jac), rtol);
    }
  });
}

/** Rules on a batch: leading dimensions `[3]` give what 3 separate calls give, `[2, 3]` what `[6]` gives. */
export function batchcheck(op: Op, inputs: readonly Tensor[], options: GradcheckOptions = {}): void {
  const wrt = differentiated(inputs, options);
  const xs = leaves(inputs, wrt);
  const y = recorded(op, xs);
  const targets = wrt.map((j) => xs[j]!);
  // The walker checks every result's shape; these compare values, flat.
  const vjps = (g: Tensor) => vjpWalk(y, g, targets).map((r, k) => flat(r, (g.size / y.size) * targets[k]!.size));
  const jvp = (ts: readonly Tensor[]) => flat(jvpWalk(y, new Map(targets.map((x, k) => [x, ts[k]!]))), (ts[0]!.size / targets[0]!.size) * y.size);
  const exact = 1e-12;

  const g3 = randomLike([3], y, 11);
  const separate = [0, 1, 2].map((v) => vjps(row(g3, v)));
  vjps(g3).forEach((b, k) => assertClose(`vjp w.r.t. input ${wrt[k]} with 3 cotangents`, b, separate.flatMap((s) => s[k]!), exact));
  const g6 = randomLike([6], y, 12);
  const flat6 = vjps(g6);
  vjps(reshape(g6, [2, 3, ...y.shape])).forEach((b, k) => assertClose(`vjp w.r.t. input ${wrt[k]} with leading [2, 3]`, b, flat6[k]!, exact));

  const t3 = targets.map((x, k) => randomLike([3], x, 20 + k));
  const separateT = [0, 1, 2].flatMap((v) => jvp(t3.map((t) => row(t, v))));
  assertClose('jvp with 3 tangents', jvp(t3), separateT, exact);
  const t6 = targets.map((x, k) => randomLike([6], x, 30 + k));
  assertClose('jvp with leading [2, 3]', jvp(t6.map((t, k) => reshape(t, [2, 3, ...targets[k]!.shape]))), jvp(t6), exact);
}

function flat(t: Tensor | undefined, size: number): number[] {
  return t === undefined ? new Array<number>(size).fill(0) : Array.from(t.toArray());
}

/** Row v of a `[V, ...]` batch, as a tensor of its own. */
function row(batch: Tensor, v: number): Tensor {
  const shape = batch.shape.slice(1);
  const size = batch.size / batch.shape[0]!;
  return tensor(Array.from(batch.toArray()).slice(v * size, (v + 1) * size), shape, { backend: batch.backend });
}

/** `[...lead, ...like.shape]` of reproducible numbers in [-1, 1), on like's backend in float64. */
function randomLike(lead: Shape, like: Tensor, seed: number): Tensor {
  const shape = [...lead, ...like.shape];
  return tensor(randomNumbers(shape.reduce((a, b) => a * b, 1), seed), shape, { backend: like.backend });
}
