import { Linear, RuleRegistry, type Tensor } from '@backpack-ts/core';
import { factoredBatchL2Rule, registerFactoredRules } from './module-rules.js';
import { FirstOrderExtension, type FirstOrderRule } from './first-order-extension.js';
import { linearBatchL2 } from './linear-rules.js';
import { squaredNorms } from './statistics.js';

/** Squared L2 norm of each per-sample gradient, stored as `param.batchL2` (`[N]`). */
export class BatchL2Grad extends FirstOrderExtension {
  readonly name = 'BatchL2Grad';
  readonly savefield = 'batchL2';
  readonly rules = registerFactoredRules(
    new RuleRegistry<FirstOrderRule>(this.name).register(Linear, linearBatchL2),
    factoredBatchL2Rule,
  );

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return squaredNorms(gradBatch);
  }
}
