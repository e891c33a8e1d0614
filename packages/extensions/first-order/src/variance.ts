import { Linear, RuleRegistry, sum, type GraphNode, type Tensor } from '@backpack-ts/core';
import { FirstOrderExtension, type FirstOrderRule } from './first-order-extension.js';
import { linearSumGradSquared } from './linear-rules.js';
import { sumOfSquares, summedGradient, varianceFrom } from './statistics.js';

function linearVariance(node: GraphNode, gradOutput: Tensor, name: string): Tensor {
  const sumGradSquared = linearSumGradSquared(node, gradOutput, name);
  return varianceFrom(sumGradSquared, summedGradient(node, gradOutput, name), node.batchSize);
}

/**
 * Variance of the per-sample gradients over the batch, stored as
 * `param.variance` (`[...param]`): `SumGradSquared / N - (grad / N)²`.
 */
export class Variance extends FirstOrderExtension {
  readonly name = 'Variance';
  readonly savefield = 'variance';
  readonly rules = new RuleRegistry<FirstOrderRule>(this.name).register(Linear, linearVariance);

  protected fromBatchGrad(gradBatch: Tensor): Tensor {
    return varianceFrom(sumOfSquares(gradBatch), sum(gradBatch, 0), gradBatch.shape[0]!);
  }
}
