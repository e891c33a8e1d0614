/**
 * The GGN by its definition, in plain JavaScript: per-sample Jacobians J_n of
 * the model output w.r.t. the parameters (from forward-mode AD), loss
 * Hessians H_n written out by hand, and `J_nᵀ H_n J_n` per parameter block.
 */
import { expect } from 'vitest';
import type { Dual, ParameterIndex } from './forward-ad.js';

/** A dense row-major square matrix. */
export interface Matrix {
  readonly size: number;
  readonly data: Float64Array;
}

function matrix(size: number): Matrix {
  return { size, data: new Float64Array(size * size) };
}

/** CrossEntropyLoss: `scale · (diag p - p pᵀ)`, p = softmax(logits). */
export function crossEntropyHessian(logits: readonly number[], scale: number): Matrix {
  const top = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - top));
  const total = e.reduce((s, v) => s + v, 0);
  const p = e.map((v) => v / total);
  const h = matrix(p.length);
  for (let a = 0; a < p.length; a++) {
    for (let b = 0; b < p.length; b++) h.data[a * p.length + b] = scale * ((a === b ? p[a]! : 0) - p[a]! * p[b]!);
  }
  return h;
}

/** MSELoss: `2 · scale · I`. */
export function squaredErrorHessian(size: number, scale: number): Matrix {
  const h = matrix(size);
  for (let a = 0; a < size; a++) h.data[a * size + a] = 2 * scale;
  return h;
}

/** BCEWithLogitsLoss: `scale · diag(σ (1 - σ))`. */
export function binaryCrossEntropyHessian(logits: readonly number[], scale: number): Matrix {
  const h = matrix(logits.length);
  logits.forEach((z, a) => {
    const s = 1 / (1 + Math.exp(-z));
    h.data[a * logits.length + a] = scale * s * (1 - s);
  });
  return h;
}

/** Per-parameter GGN blocks: `perSample[n]` = `J_nᵀ H_n J_n` (k x k), and their sum over n. */
export interface GgnBlocks {
  readonly perSample: Matrix[];
  readonly total: Matrix;
}

/**
 * The GGN block of parameter `name` from the per-sample outputs (each a
 * `Dual[]` over the flattened per-sample output) and loss Hessians.
 */
export function ggnBlock(index: ParameterIndex, name: string, outputs: readonly Dual[][], hessians: readonly Matrix[]): GgnBlocks {
  const offset = index.offsets.get(name)!;
  const k = index.count(name);
  const total = matrix(k);
  const perSample = outputs.map((output, n) => {
    const h = hessians[n]!;
    const d = output.length;
    if (h.size !== d) throw new Error(`Hessian of size ${h.size} for ${d} outputs`);
    const block = matrix(k);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const hab = h.data[a * d + b]!;
        if (hab === 0) continue;
        const ja = output[a]!.d;
        const jb = output[b]!.d;
        for (let i = 0; i < k; i++) {
          const left = ja[offset + i]! * hab;
          if (left === 0) continue;
          for (let j = 0; j < k; j++) block.data[i * k + j] += left * jb[offset + j]!;
        }
      }
    }
    for (let i = 0; i < k * k; i++) total.data[i] += block.data[i]!;
    return block;
  });
  return { perSample, total };
}

/** The diagonal of a matrix. */
export function diagonal(m: Matrix): Float64Array {
  return Float64Array.from({ length: m.size }, (_, i) => m.data[i * m.size + i]!);
}

/**
 * `Σ_v P[v, n] P[v, n]ᵀ` per sample from a square root `[V, N, ...param]`
 * (flat, with k = product of the parameter's dimensions).
 */
export function outerProducts(sqrt: ArrayLike<number>, v: number, n: number, k: number): Matrix[] {
  return Array.from({ length: n }, (_, sample) => {
    const m = matrix(k);
    for (let c = 0; c < v; c++) {
      const base = (c * n + sample) * k;
      for (let i = 0; i < k; i++) {
        const pi = sqrt[base + i]!;
        if (pi === 0) continue;
        for (let j = 0; j < k; j++) m.data[i * k + j] += pi * sqrt[base + j]!;
      }
    }
    return m;
  });
}

/**
 * Asserts `actual` ≈ `expected` entrywise with error at most `rtol` times the
 * largest |expected| (the measure of the golden files), naming the worst entry.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, label: string): void {
  expect(actual.length, `${label}: number of entries`).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = -1;
  let worstError = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (!(error <= worstError)) {
      worstError = error;
      worst = i;
    }
  }
  if (worst >= 0 && !(worstError <= rtol * scale)) {
    expect.fail(
      `${label}: entry ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(error ${worstError.toExponential(2)} > ${rtol} x scale ${scale.toExponential(2)})`,
    );
  }
}
