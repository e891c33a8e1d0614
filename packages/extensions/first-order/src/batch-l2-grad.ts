import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import { Linear, type Tensor } from '@backpack-ts/core';
import { factoredBatchL2Rule, factoredRules } from './module-rules.js';
import { FirstOrderExtension } from './first-order-extension.js';
import { linearBatchL2 } from './linear-rules.js';
import { squaredNorms } from './statistics.js';

/** Squared L2 norm of each per-sample gradient, stored as `param.batchL2` (`[N]`). */
export class BatchL2Grad extends FirstOrderExtension {
  readonly name = 'BatchL2Grad';
  readonly savefield = 'batchL2';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('BatchL2Grad', options, []);
    super([[Linear, linearBatchL2], ...factoredRules(factoredBatchL2Rule)]);
  }

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return squaredNorms(gradBatch);
  }
}
