import { rejectUnknownOptions, type Generator } from '@backpack-ts/core';
import { DEFAULT_BATCH_SIZE } from './probe-batches.js';
import { RANDOM_OPTIONS, checkCount, checkDistribution, generatorFrom, type ProbeDistribution, type RandomOptions } from './random-probes.js';

/** Options of {@link hutchinsonTrace} and {@link hutchinsonDiagonal}. */
export interface HutchinsonOptions extends RandomOptions {
  /** The number of probe vectors, each one product with the operator (at least 2, for a standard error). */
  readonly matvecs: number;
  /** The probes' entries: `'rademacher'` (±1, the smaller variance; default) or `'gaussian'`. */
  readonly distribution?: ProbeDistribution;
  /** Probes multiplied at once (memory `n x batchSize`); default 16. */
  readonly batchSize?: number;
}

/** {@link HutchinsonOptions} checked, with defaults filled in. */
export interface ResolvedHutchinsonOptions {
  /** The generator the probes are drawn from. */
  readonly generator: Generator;
  /** The probes' entries. */
  readonly distribution: ProbeDistribution;
  /** The number of probes (products with the operator). */
  readonly matvecs: number;
  /** Probes multiplied at once. */
  readonly batchSize: number;
}

/** Checks the options of a Hutchinson estimator named `owner`. */
export function resolveHutchinsonOptions(owner: string, options: HutchinsonOptions): ResolvedHutchinsonOptions {
  rejectUnknownOptions(owner, options, ['matvecs', 'distribution', 'batchSize', ...RANDOM_OPTIONS]);
  return {
    matvecs: checkCount(owner, 'matvecs', options.matvecs, 2, ' (two samples give a standard error)'),
    distribution: checkDistribution(owner, options.distribution ?? 'rademacher'),
    batchSize: checkCount(owner, 'batchSize', options.batchSize ?? DEFAULT_BATCH_SIZE, 1),
    generator: generatorFrom(owner, options),
  };
}
