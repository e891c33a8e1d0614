/** The Hessian of CrossEntropyLoss and MSELoss w.r.t. a prediction `[N, C]`, written out by hand. */
import { CrossEntropyLoss, type LossModule, type Tensor } from '@backpack-ts/core';
import { blockDiagonal, toMatrix, type Matrix } from './dense.js';

/**
 * `[N·C, N·C]`: cross-entropy `blockdiag_n(diag(p_n) − p_n p_nᵀ)` with
 * `p_n = softmax(f_n)`; squared error `2 I`; times 1/N (cross-entropy) or
 * 1/(N·C) (squared error) for reduction 'mean'.
 */
export function lossHessian(lossFunction: LossModule, prediction: Tensor): Matrix {
  const rows = toMatrix(prediction);
  const [n, c] = [rows.length, rows[0]!.length];
  const mean = lossFunction.reduction === 'mean';
  if (lossFunction instanceof CrossEntropyLoss) {
    return blockDiagonal(
      rows.map((f) => {
        const top = Math.max(...f);
        const e = f.map((x) => Math.exp(x - top));
        const total = e.reduce((a, b) => a + b, 0);
        const p = e.map((x) => x / total);
        return p.map((pi, i) => p.map((pj, j) => ((i === j ? pi : 0) - pi * pj) / (mean ? n : 1)));
      }),
    );
  }
  return blockDiagonal(Array.from({ length: n }, () => Array.from({ length: c }, (_, i) => Array.from({ length: c }, (_, j) => (i === j ? 2 : 0) / (mean ? n * c : 1)))));
}
