import { rejectUnknownOptions, validateSubsampling } from '@backpack-ts/core';
import type { Tensor } from '@backpack-ts/core';
import { FirstOrderExtension } from './first-order-extension.js';

/** Options of {@link BatchGrad}. */
export interface BatchGradOptions {
  /**
   * BackPACK's `subsampling`: the indices of the samples (in that order) to
   * compute individual gradients for; `gradBatch` is then
   * `[subsampling.length, ...param]`, each row still with the loss's factor
   * for the whole batch (1/N for `mean`). Only those samples are computed.
   */
  readonly subsampling?: readonly number[];
  /**
   * BackPACK's `weight_jac_t_save_memory`: a convolution weight's individual
   * gradients are built a chunk of samples at a time (about 2²² entries
   * each), bounding the intermediates of one product. Default false.
   */
  readonly convSaveMemory?: boolean;
}

/**
 * Per-sample gradients, stored as `param.gradBatch` with shape `[N, ...param]`.
 * With a `mean` loss they carry its 1/N, so they sum over the batch to `.grad`.
 * No default rules: every module with the trait `perSampleParameterJacobian`
 * gives them through its own `paramJacTMatProd`.
 */
export class BatchGrad extends FirstOrderExtension {
  readonly name = 'BatchGrad';
  readonly savefield = 'gradBatch';

  constructor(options: BatchGradOptions = {}) {
    rejectUnknownOptions('BatchGrad', options, ['subsampling', 'convSaveMemory']);
    super([], validateSubsampling('BatchGrad', options.subsampling), options.convSaveMemory);
  }

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return gradBatch;
  }
}
