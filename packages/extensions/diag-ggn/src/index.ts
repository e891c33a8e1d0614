/**
 * @backpack-ts/diag-ggn: generalized Gauss-Newton (GGN) curvature in the same
 * backward pass as the gradient: its diagonal (summed and per sample) and a
 * square root of it, exact or Monte-Carlo.
 *
 * Importing this package adds the typed fields `diagGgnExact`, `diagGgnMc`,
 * `diagGgnExactBatch`, `diagGgnMcBatch`, `sqrtGgnExact` and `sqrtGgnMc` to
 * core's `Parameter`.
 *
 * The parameter owns these fields: the next backward pass that computes one
 * replaces it and disposes the previous tensors, so a value read from a field
 * is valid until then (a later use throws, naming that pass). Keep a copy
 * with `clone()` to hold it across passes (see core's `Parameter`).
 *
 * @module \@backpack-ts/diag-ggn
 */
import type { Tensor } from '@backpack-ts/core';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** DiagGGNExact: diagonal of the GGN, `[...param]`. */
    diagGgnExact?: Tensor;
    /** DiagGGNMC: Monte-Carlo estimate of the GGN diagonal, `[...param]`. */
    diagGgnMc?: Tensor;
    /** BatchDiagGGNExact: per-sample GGN diagonals, `[N, ...param]`. */
    diagGgnExactBatch?: Tensor;
    /** BatchDiagGGNMC: Monte-Carlo per-sample GGN diagonals, `[N, ...param]`. */
    diagGgnMcBatch?: Tensor;
    /** SqrtGGNExact: GGN square root, `[C, N, ...param]` (C = model outputs per sample). */
    sqrtGgnExact?: Tensor;
    /** SqrtGGNMC: Monte-Carlo GGN square root, `[M, N, ...param]` (M = samples). */
    sqrtGgnMc?: Tensor;
  }
}

export { DiagGGNExact, DiagGGNMC, BatchDiagGGNExact, BatchDiagGGNMC } from './diag-ggn.js';
export { SqrtGGNExact, SqrtGGNMC, type SubsamplingOptions } from './sqrt-ggn.js';
export {
  GgnExtension,
  sampledLossSqrt,
  type GgnReduction,
  type ConvMemoryOptions,
  type LossSqrt,
  type MonteCarloOptions,
} from './ggn-extension.js';
export { genericGgnRule, linearGgnRule, recurrentGgnRule, backpropagateSqrt, squaredSum, type GgnRule } from './ggn-rules.js';
