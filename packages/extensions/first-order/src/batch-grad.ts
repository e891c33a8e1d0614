import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import type { Tensor } from '@backpack-ts/core';
import { FirstOrderExtension } from './first-order-extension.js';

/**
 * Per-sample gradients, stored as `param.gradBatch` with shape `[N, ...param]`.
 * With a `mean` loss they carry its 1/N, so they sum over the batch to `.grad`.
 * No default rules: every module with the trait `perSampleParameterJacobian`
 * gives them through its own `paramJacTMatProd`.
 */
export class BatchGrad extends FirstOrderExtension {
  readonly name = 'BatchGrad';
  readonly savefield = 'gradBatch';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('BatchGrad', options, []);
    super();
  }

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return gradBatch;
  }
}
