import { Generator, type LossModule, type Module, type Tensor } from '@backpack-ts/core';
import { CurvatureOperator, type BatchPass, type CurvatureOperatorOptions } from './curvature-operator.js';
import type { DataSet } from './data-set.js';
import { sqrtCurvatureProduct } from './sqrt-curvature-product.js';

/** Options of {@link MonteCarloFisherOperator}. */
export interface MonteCarloFisherOptions extends CurvatureOperatorOptions {
  /** Samples drawn per data point (default 1). */
  readonly mcSamples?: number;
  /** Seed of the draws (default 0). */
  readonly seed?: number;
}

/**
 * The Monte-Carlo Fisher `Σ_n J_nᵀ (Σ_m s_nm s_nmᵀ) J_n` over a data set, as
 * curvlinops' `FisherMCLinearOperator`: the loss's `sqrtHessianSampled`
 * draws `mcSamples` targets per data point from the model's own predictive
 * distribution, so that it equals the GGN in expectation.
 *
 * The generator is reseeded with `seed` at the start of every product, so
 * the operator is one fixed matrix: the same draws for every column and every
 * call (what CG and Lanczos need).
 */
export class MonteCarloFisherOperator extends CurvatureOperator {
  /** Samples per data point. */
  readonly mcSamples: number;
  /** Seed of the draws. */
  readonly seed: number;
  private readonly generator: Generator;

  constructor(model: Module, lossFunction: LossModule, data: DataSet, options: MonteCarloFisherOptions = {}) {
    super('MonteCarloFisherOperator', model, lossFunction, data, options, ['mcSamples', 'seed']);
    const mcSamples = options.mcSamples ?? 1;
    if (!Number.isInteger(mcSamples) || mcSamples < 1) {
      throw new RangeError(`MonteCarloFisherOperator: mcSamples must be a positive integer, got ${String(mcSamples)}`);
    }
    this.mcSamples = mcSamples;
    this.seed = options.seed ?? 0;
    this.generator = new Generator(this.seed);
  }

  protected override beginProduct(): void {
    this.generator.manualSeed(this.seed);
  }

  protected batchProduct({ output, lossNode, tensors }: BatchPass, blocks: readonly Tensor[]): Tensor[] {
    return sqrtCurvatureProduct(output, this.lossFunction.sqrtHessianSampled(lossNode, this.mcSamples, this.generator), tensors, blocks);
  }
}
