/**
 * The expected value of a quantity in a golden case: the reference
 * implementation's result where it has one, else (for first-order
 * quantities) derived from the brute-force per-sample gradients with the
 * reference's conventions (see the golden README):
 * `grad = Σ_n g_n`, `SumGradSquared = Σ_n g_n²`, `BatchL2Grad[n] = ‖g_n‖²`,
 * `Variance = SumGradSquared / N - (grad / N)²`.
 */
import type { GoldenCase, GoldenQuantity, GoldenTensor } from './load.js';

/** Where an expected value came from. */
export type ExpectedSource = 'quantities' | 'bruteforce';

/** A reference value and where it came from. */
export interface ExpectedQuantity {
  /** The reference value. */
  readonly value: GoldenQuantity;
  /** BackPACK's stored quantity, or one derived from the brute-force results. */
  readonly source: ExpectedSource;
}

/** Quantities this module can derive from `bruteforce.grad_batch`. */
const fromGradBatch: Readonly<Record<string, (gradBatch: GoldenTensor) => GoldenTensor>> = {
  grad: (g) => reduceSamples(g, (values) => values.reduce((s, v) => s + v, 0)),
  BatchGrad: (g) => g,
  SumGradSquared: (g) => reduceSamples(g, (values) => values.reduce((s, v) => s + v * v, 0)),
  Variance: (g) => {
    const n = g.shape[0]!;
    return reduceSamples(g, (values) => {
      const sum = values.reduce((s, v) => s + v, 0);
      const sumSquares = values.reduce((s, v) => s + v * v, 0);
      return sumSquares / n - (sum / n) ** 2;
    });
  },
  BatchL2Grad: (g) => {
    const n = g.shape[0]!;
    const per = g.data.length / n;
    const data = Array.from({ length: n }, (_, i) => g.data.slice(i * per, (i + 1) * per).reduce((s, v) => s + v * v, 0));
    return { shape: [n], data };
  },
};

/** Applies `f` to the N values of each parameter entry: `[N, ...p] -> [...p]`. */
function reduceSamples(g: GoldenTensor, f: (values: number[]) => number): GoldenTensor {
  const n = g.shape[0]!;
  const per = g.data.length / n;
  const data = Array.from({ length: per }, (_, j) => f(Array.from({ length: n }, (_, i) => g.data[i * per + j]!)));
  return { shape: g.shape.slice(1), data };
}

/**
 * The expected `quantity` (`"grad"` or an extension name such as
 * `"BatchGrad"`) for parameter `param`, or undefined when the case has no
 * reference value and none can be derived. Besides the first-order
 * quantities, `DiagGGNExact` and `DiagHessian` fall back on the brute-force
 * diagonals (`bruteforce.diag_ggn_exact`, `bruteforce.diag_h`).
 */
export function expectedQuantity(golden: GoldenCase, quantity: string, param: string): ExpectedQuantity | undefined {
  const stored = golden.quantities[quantity]?.[param];
  if (stored !== undefined) return { value: stored, source: 'quantities' };
  const gradBatch = golden.bruteforce?.grad_batch?.[param];
  const derive = fromGradBatch[quantity];
  if (gradBatch !== undefined && derive !== undefined) return { value: derive(gradBatch), source: 'bruteforce' };
  const diagonal =
    quantity === 'DiagGGNExact' ? golden.bruteforce?.diag_ggn_exact?.[param] : quantity === 'DiagHessian' ? golden.bruteforce?.diag_h?.[param] : undefined;
  if (diagonal !== undefined) return { value: diagonal, source: 'bruteforce' };
  return undefined;
}
