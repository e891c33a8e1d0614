import { add, mul, neg, type Parameter, type Tensor } from '@backpack-ts/core';

/**
 * The gradient an update rule steps along, formed as `torch.optim` forms it:
 * the parameter's `.grad` (negated when `maximize`, to ascend) plus the L2
 * penalty's `weightDecay · θ`.
 */
export function regularizedGradient(parameter: Parameter, weightDecay: number, maximize = false): Tensor {
  const grad = maximize ? neg(parameter.grad!) : parameter.grad!;
  return weightDecay === 0 ? grad : add(grad, mul(parameter.data, weightDecay));
}
