import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import { GgnExtension, sampledLossSqrt, type MonteCarloOptions } from './ggn-extension.js';

/**
 * A square root of the GGN: `param.sqrtGgnExact[c, n] = J_nᵀ S_n[:, c]`
 * (`[C, N, ...param]`, C = model outputs per sample, class dimension first),
 * where `S_n S_nᵀ = H_n` is the loss Hessian of sample n. Flattening the
 * parameter dimensions, `Σ_c Σ_n P[c, n] P[c, n]ᵀ` is the parameter's GGN
 * block; with a `mean` loss, S carries 1/√N.
 */
export class SqrtGGNExact extends GgnExtension {
  readonly name = 'SqrtGGNExact';
  readonly savefield = 'sqrtGgnExact';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('SqrtGGNExact', options, []);
    super({ kind: 'exact' }, 'sqrt');
  }
}

/**
 * A Monte-Carlo square root of the GGN (of the Fisher), `[M, N, ...param]`
 * with M = `mcSamples`: its outer product `Σ_m Σ_n P P ᵀ` has the GGN as
 * expectation. Stored as `param.sqrtGgnMc`.
 */
export class SqrtGGNMC extends GgnExtension {
  readonly name = 'SqrtGGNMC';
  readonly savefield = 'sqrtGgnMc';

  constructor(options: MonteCarloOptions = {}) {
    super(sampledLossSqrt('SqrtGGNMC', options), 'sqrt');
  }
}
