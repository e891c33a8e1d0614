import type { Tensor } from '@backpack-ts/core';
import { batchGradRules } from './batch-grad-rules.js';
import { FirstOrderExtension } from './first-order-extension.js';

/**
 * Per-sample gradients, stored as `param.gradBatch` with shape `[N, ...param]`.
 * With a `mean` loss they carry its 1/N, so they sum over the batch to `.grad`.
 */
export class BatchGrad extends FirstOrderExtension {
  readonly name = 'BatchGrad';
  readonly savefield = 'gradBatch';
  readonly rules = batchGradRules;

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return gradBatch;
  }
}
