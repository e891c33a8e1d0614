import { Generator, defaultGenerator } from '@backpack-ts/core';

/** The options of every algorithm that draws random numbers. */
export interface RandomOptions {
  /** Seeds a new `Generator` for this call (give this or `generator`). */
  readonly seed?: number;
  /** The generator to draw from (advanced by the call). Default: a new one from `seed`, else core's `defaultGenerator`. */
  readonly generator?: Generator;
}

/** The distribution of the entries of random probe vectors: independent signs ±1, or standard normal. */
export type ProbeDistribution = 'rademacher' | 'gaussian';

/** Option names of {@link RandomOptions}, for `rejectUnknownOptions`. */
export const RANDOM_OPTIONS = ['seed', 'generator'] as const;

/** The generator an algorithm draws from, as its options say. */
export function generatorFrom(owner: string, options: RandomOptions): Generator {
  if (options.seed !== undefined && options.generator !== undefined) {
    throw new TypeError(`${owner}: give either seed or generator, not both`);
  }
  if (options.seed !== undefined) {
    if (!Number.isInteger(options.seed)) throw new RangeError(`${owner}: seed must be an integer, got ${options.seed}`);
    return new Generator(options.seed);
  }
  return options.generator ?? defaultGenerator;
}

/** Throws unless `distribution` is a {@link ProbeDistribution}. */
export function checkDistribution(owner: string, distribution: string): ProbeDistribution {
  if (distribution !== 'rademacher' && distribution !== 'gaussian') {
    throw new RangeError(`${owner}: distribution must be 'rademacher' or 'gaussian', got '${distribution}'`);
  }
  return distribution;
}

/** `count` probe vectors of length `n` as the columns of a row-major `[n, count]` array. */
export function drawProbes(generator: Generator, distribution: ProbeDistribution, n: number, count: number): Float64Array {
  const probes = new Float64Array(n * count);
  for (let i = 0; i < probes.length; i++) {
    probes[i] = distribution === 'gaussian' ? generator.nextNormal() : generator.nextUniform() < 0.5 ? -1 : 1;
  }
  return probes;
}

/** Throws unless `value` is an integer of at least `minimum`. */
export function checkCount(owner: string, name: string, value: number, minimum: number, why = ''): number {
  if (!Number.isInteger(value) || value < minimum) {
    throw new RangeError(`${owner}: ${name} must be an integer of at least ${minimum}${why}, got ${value}`);
  }
  return value;
}
