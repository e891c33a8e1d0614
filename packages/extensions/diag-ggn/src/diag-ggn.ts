import { rejectUnknownOptions } from '@backpack-ts/core';
import { GgnExtension, sampledLossSqrt, type ConvMemoryOptions, type MonteCarloOptions } from './ggn-extension.js';

/**
 * Diagonal of the generalized Gauss-Newton matrix, `diag(Σ_n J_nᵀ H_n J_n)`
 * (J_n: per-sample Jacobian of the model output w.r.t. the parameter, H_n:
 * Hessian of the loss w.r.t. the output), stored as `param.diagGgnExact`
 * with the parameter's shape.
 */
export class DiagGGNExact extends GgnExtension {
  readonly name = 'DiagGGNExact';
  readonly savefield = 'diagGgnExact';

  constructor(options: ConvMemoryOptions = {}) {
    rejectUnknownOptions('DiagGGNExact', options, ['convSaveMemory']);
    super({ kind: 'exact' }, 'diagonal', undefined, options.convSaveMemory);
  }
}

/**
 * Monte-Carlo estimate of the GGN diagonal (the diagonal of the Fisher),
 * from `mcSamples` draws of the model's predictive distribution; stored as
 * `param.diagGgnMc` with the parameter's shape. Its expectation is
 * {@link DiagGGNExact}'s value.
 */
export class DiagGGNMC extends GgnExtension {
  readonly name = 'DiagGGNMC';
  readonly savefield = 'diagGgnMc';

  constructor(options: MonteCarloOptions & ConvMemoryOptions = {}) {
    super(sampledLossSqrt('DiagGGNMC', options, ['convSaveMemory']), 'diagonal', undefined, options.convSaveMemory);
  }
}

/**
 * Per-sample GGN diagonals `diag(J_nᵀ H_n J_n)`, stored as
 * `param.diagGgnExactBatch` (`[N, ...param]`). With a `mean` loss they carry
 * its 1/N, so they sum over the batch to {@link DiagGGNExact}'s value.
 */
export class BatchDiagGGNExact extends GgnExtension {
  readonly name = 'BatchDiagGGNExact';
  readonly savefield = 'diagGgnExactBatch';

  constructor(options: ConvMemoryOptions = {}) {
    rejectUnknownOptions('BatchDiagGGNExact', options, ['convSaveMemory']);
    super({ kind: 'exact' }, 'batchDiagonal', undefined, options.convSaveMemory);
  }
}

/** Monte-Carlo per-sample GGN diagonals, stored as `param.diagGgnMcBatch` (`[N, ...param]`). */
export class BatchDiagGGNMC extends GgnExtension {
  readonly name = 'BatchDiagGGNMC';
  readonly savefield = 'diagGgnMcBatch';

  constructor(options: MonteCarloOptions & ConvMemoryOptions = {}) {
    super(sampledLossSqrt('BatchDiagGGNMC', options, ['convSaveMemory']), 'batchDiagonal', undefined, options.convSaveMemory);
  }
}
