import { rejectUnknownOptions, validateSubsampling } from '@backpack-ts/core';
import { GgnExtension, sampledLossSqrt, type ConvMemoryOptions, type MonteCarloOptions } from './ggn-extension.js';

/** The option of SqrtGGNExact and SqrtGGNMC besides sampling (BackPACK 1.6's `subsampling`). */
export interface SubsamplingOptions {
  /**
   * The indices of the samples (in that order) to compute the square root
   * for: N in `[C, N, ...param]` becomes `subsampling.length`; the columns
   * keep the loss's factor for the whole batch, so they are the full square
   * root's columns of those samples (Monte-Carlo: drawn for those samples
   * only). Only those samples are computed.
   */
  readonly subsampling?: readonly number[];
}

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

  constructor(options: SubsamplingOptions & ConvMemoryOptions = {}) {
    rejectUnknownOptions('SqrtGGNExact', options, ['subsampling', 'convSaveMemory']);
    super({ kind: 'exact' }, 'sqrt', validateSubsampling('SqrtGGNExact', options.subsampling), options.convSaveMemory);
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

  constructor(options: MonteCarloOptions & SubsamplingOptions & ConvMemoryOptions = {}) {
    super(
      sampledLossSqrt('SqrtGGNMC', options, ['subsampling', 'convSaveMemory']),
      'sqrt',
      validateSubsampling('SqrtGGNMC', options.subsampling),
      options.convSaveMemory,
    );
  }
}
