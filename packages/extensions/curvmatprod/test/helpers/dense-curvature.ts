/**
 * Dense references for the curvature products, built column by column in
 * the test: Hessians by double backward, Jacobians row by row by reverse
 * mode, and symmetric eigendecompositions by the cyclic Jacobi method.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { grad, mul, sum, tensor, type LeafModule, type Parameter, type Tensor } from '@backpack-ts/core';
import { expect } from 'vitest';

/** A dense matrix as rows. */
export type Dense = number[][];

function unit(like: Tensor, j: number): Tensor {
  const data = new Float64Array(like.size);
  data[j] = 1;
  return tensor(data, like.shape, { backend: like.backend, dtype: like.dtype });
}

/** `∂² f / ∂x²` of the scalar `f` (recorded), `[x.size, x.size]`, one double-backward column at a time. */
export function denseHessian(f: Tensor, x: Tensor): Dense {
  const [g] = grad(f, [x], { createGraph: true, allowUnused: true });
  const zeros = () => Array.from({ length: x.size }, () => new Array<number>(x.size).fill(0));
  // A first derivative that does not depend on x (nothing recorded, or only on other tensors): f is affine in x.
  if (g === undefined || !g.requiresGrad || !dependsOn(g, x)) return zeros();
  const columns = Array.from({ length: x.size }, (_, j) => {
    const [column] = grad(g, [x], { gradOutputs: [unit(x, j)], retainGraph: true, allowUnused: true });
    return column === undefined ? new Array<number>(x.size).fill(0) : Array.from(column.toArray());
  });
  return transpose(columns);
}

/** Whether the recorded history of `y` reaches `x`. */
function dependsOn(y: Tensor, x: Tensor): boolean {
  const seen = new Set<unknown>();
  const stack = [y];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t === x) return true;
    const node = t.gradFn as { inputs?: readonly Tensor[]; kind?: string; module?: LeafModule } | undefined;
    if (node === undefined || seen.has(node)) continue;
    seen.add(node);
    stack.push(...(node.inputs ?? []));
    if (node.kind === 'module') stack.push(...node.module!.ownTrainableParameters().map(([, p]) => p.data));
  }
  return false;
}

/** `∂y / ∂x`, `[y.size, x.size]`, one reverse-mode row at a time. */
export function denseJacobian(y: Tensor, x: Tensor): Dense {
  return Array.from({ length: y.size }, (_, i) => {
    const [row] = grad(y, [x], { gradOutputs: [unit(y, i)], retainGraph: true, allowUnused: true });
    return row === undefined ? new Array<number>(x.size).fill(0) : Array.from(row.toArray());
  });
}

export function transpose(a: Dense): Dense {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

export function matmul(a: Dense, b: Dense): Dense {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((total, aik, k) => total + aik * b[k]![j]!, 0)));
}

export function plus(a: Dense, b: Dense): Dense {
  return a.map((row, i) => row.map((x, j) => x + b[i]![j]!));
}

/** `Jᵀ H J`. */
export function sandwich(j: Dense, h: Dense): Dense {
  return matmul(transpose(j), matmul(h, j));
}

/** Eigenvalues and eigenvectors (columns of `vectors`) of a symmetric matrix, by cyclic Jacobi rotations. */
export function symmetricEigen(a: Dense): { values: number[]; vectors: Dense } {
  const n = a.length;
  const m = a.map((row) => [...row]);
  const v: Dense = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (m[p]![q] === 0) continue;
        const theta = (m[q]![q]! - m[p]![p]!) / (2 * m[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const [mkp, mkq] = [m[k]![p]!, m[k]![q]!];
          m[k]![p] = c * mkp - s * mkq;
          m[k]![q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const [mpk, mqk] = [m[p]![k]!, m[q]![k]!];
          m[p]![k] = c * mpk - s * mqk;
          m[q]![k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const [vkp, vkq] = [v[k]![p]!, v[k]![q]!];
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: m.map((row, i) => row[i]!), vectors: v };
}

/** `Q f(Λ) Qᵀ` for the eigendecomposition of the symmetric `a`. */
export function mapEigenvalues(a: Dense, f: (lambda: number) => number): Dense {
  const { values, vectors } = symmetricEigen(a);
  return a.map((_, i) => a.map((_, j) => values.reduce((total, lambda, k) => total + vectors[i]![k]! * f(lambda) * vectors[j]![k]!, 0)));
}

/** The rows of a `[V, ...]` tensor, flattened: a product with the identity is the matrix itself. */
export function rowsOf(x: Tensor): Dense {
  const v = x.shape[0]!;
  const data = Array.from(x.toArray());
  const size = data.length / v;
  return Array.from({ length: v }, (_, i) => data.slice(i * size, (i + 1) * size));
}

/** The identity `[P, ...shape]`, P the size of `like`. */
export function identityLike(like: Tensor): Tensor {
  const p = like.size;
  const data = new Float64Array(p * p);
  for (let i = 0; i < p; i++) data[i * p + i] = 1;
  return tensor(data, [p, ...like.shape], { backend: cpu, dtype: 'float64' });
}

/** Entrywise `|a - e| <= rtol (|e| + max |e|)`. */
export function expectDenseClose(actual: Dense | readonly number[], expected: Dense | readonly number[], rtol: number, what: string): void {
  const a = (actual as unknown[]).flat() as number[];
  const e = (expected as unknown[]).flat() as number[];
  expect(a.length, `${what}: number of entries`).toBe(e.length);
  const scale = Math.max(...e.map(Math.abs), 1e-300);
  e.forEach((ei, i) => {
    const tolerance = rtol * (Math.abs(ei) + scale);
    if (!(Math.abs(a[i]! - ei) <= tolerance)) expect.fail(`${what}: entry ${i}: got ${a[i]}, expected ${ei} (tolerance ${tolerance.toExponential(2)})`);
  });
}

/**
 * Each parameter's block of the positive-curvature Hessian of a sequence of
 * `layers` (`z[l + 1] = layers[l](z[l])`, `loss` computed from the last),
 * by its dense recursion: `H_l = J_lᵀ H_{l+1} J_l + modify(R_l)`, the
 * residual `R_l` (Hessian of `<g, z[l + 1]>` w.r.t. `z[l]`, g fixed)
 * eigendecomposed and its eigenvalues mapped by `modify`.
 */
export function densePositiveCurvature(layers: readonly LeafModule[], z: readonly Tensor[], loss: Tensor, modify: (lambda: number) => number): Map<Parameter, Dense> {
  const blocks = new Map<Parameter, Dense>();
  let h = denseHessian(loss, z[layers.length]!);
  for (let l = layers.length - 1; l >= 0; l--) {
    const [input, output] = [z[l]!, z[l + 1]!];
    for (const [, parameter] of layers[l]!.ownTrainableParameters()) blocks.set(parameter, sandwich(denseJacobian(output, parameter.data), h));
    if (l === 0) break;
    const [gradOutput] = grad(loss, [output], { retainGraph: true });
    const residual = denseHessian(sum(mul(gradOutput!.detach(), output)), input);
    h = plus(sandwich(denseJacobian(output, input), h), mapEigenvalues(residual, modify));
  }
  return blocks;
}
