import { Linear, RuleRegistry, type Tensor } from '@backpack-ts/core';
import { factoredSumGradSquaredRule, registerFactoredRules } from './module-rules.js';
import { FirstOrderExtension, type FirstOrderRule } from './first-order-extension.js';
import { linearSumGradSquared } from './linear-rules.js';
import { sumOfSquares } from './statistics.js';

/** Second moment of the per-sample gradients, Σ_n g_n², stored as `param.sumGradSquared` (`[...param]`). */
export class SumGradSquared extends FirstOrderExtension {
  readonly name = 'SumGradSquared';
  readonly savefield = 'sumGradSquared';
  readonly rules = registerFactoredRules(
    new RuleRegistry<FirstOrderRule>(this.name).register(Linear, linearSumGradSquared),
    factoredSumGradSquaredRule,
  );

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return sumOfSquares(gradBatch);
  }
}
