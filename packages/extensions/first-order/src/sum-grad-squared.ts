import { rejectUnknownOptions, type NoOptions } from '@backpack-ts/core';
import { Linear, type Tensor } from '@backpack-ts/core';
import { factoredRules, factoredSumGradSquaredRule } from './module-rules.js';
import { FirstOrderExtension } from './first-order-extension.js';
import { linearSumGradSquared } from './linear-rules.js';
import { sumOfSquares } from './statistics.js';

/** Second moment of the per-sample gradients, Σ_n g_n², stored as `param.sumGradSquared` (`[...param]`). */
export class SumGradSquared extends FirstOrderExtension {
  readonly name = 'SumGradSquared';
  readonly savefield = 'sumGradSquared';

  constructor(options: NoOptions = {}) {
    rejectUnknownOptions('SumGradSquared', options, []);
    super([[Linear, linearSumGradSquared], ...factoredRules(factoredSumGradSquaredRule)]);
  }

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return sumOfSquares(gradBatch);
  }
}
