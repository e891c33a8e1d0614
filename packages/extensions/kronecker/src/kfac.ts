import { defaultGenerator, Generator, rejectUnknownOptions, type GraphNode, type LossModule, type Tensor } from '@backpack-ts/core';
import { SqrtKroneckerExtension } from './sqrt-extension.js';

/** Options of {@link KFAC}. */
export interface KFACOptions {
  /** Monte-Carlo samples drawn per data point (default 1, as the reference). */
  readonly mcSamples?: number;
  /** Seeds a generator owned by this extension instance (mutually exclusive with `generator`). */
  readonly seed?: number;
  /** The generator to draw from (default: core's `defaultGenerator`, reseeded by `manualSeed`). */
  readonly generator?: Generator;
}

/**
 * KFAC (Martens & Grosse, 2015): Kronecker factors of the generalized
 * Gauss-Newton / Fisher matrix from a Monte-Carlo square root of the loss
 * Hessian, stored as `param.kfac`.
 *
 * As {@link KFLR}, but the loss starts `mcSamples` columns drawn from the
 * model's own predictive distribution (scaled by `1/√mcSamples`), so the
 * output-side factor `G` equals KFLR's in expectation. The input-side factor
 * `A = XᵀX / N` is exact.
 *
 * Randomness: with `seed`, the instance owns `new Generator(seed)`; its state
 * advances with every backward pass, so two instances with the same seed give
 * identical results pass for pass. Without `seed` or `generator` it draws from
 * core's `defaultGenerator`.
 */
export class KFAC extends SqrtKroneckerExtension {
  /** Monte-Carlo samples per backward pass (default 1). */
  readonly mcSamples: number;
  /** Where the samples are drawn from. */
  readonly generator: Generator;

  constructor(options: KFACOptions = {}) {
    rejectUnknownOptions('KFAC', options, ['mcSamples', 'seed', 'generator']);
    super('KFAC', 'kfac');
    const mcSamples = options.mcSamples ?? 1;
    if (!Number.isInteger(mcSamples) || mcSamples < 1) {
      throw new RangeError(`KFAC: mcSamples must be a positive integer, got ${String(mcSamples)}`);
    }
    if (options.seed !== undefined && options.generator !== undefined) {
      throw new TypeError('KFAC: pass either seed or generator, not both');
    }
    this.mcSamples = mcSamples;
    this.generator =
      options.generator ?? (options.seed !== undefined ? new Generator(options.seed) : defaultGenerator);
  }

  protected atLoss(node: GraphNode, loss: LossModule): Tensor {
    return loss.sqrtHessianSampled(node, this.mcSamples, this.generator);
  }
}
