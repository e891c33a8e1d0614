/**
 * Small float64 networks and data sets of unequal batches on backend-cpu,
 * covering Linear, Conv2d, max and average pooling, several activations,
 * BatchNorm in evaluation mode and Flatten, with CrossEntropyLoss or MSELoss.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  CrossEntropyLoss,
  ELU,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  MSELoss,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  extend,
  tensor,
  type LossModule,
  type Module,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';

export const float64 = { backend: cpu, dtype: 'float64' as const };

/** A model, its loss and a data set of batches `[input, target]` of unequal sizes. */
export interface Problem {
  readonly name: string;
  readonly model: Module;
  readonly lossFunction: LossModule;
  readonly data: [Tensor, Tensor][];
}

/** BatchNorm2d in evaluation mode with random statistics and affine parameters. */
function evalBatchNorm(channels: number, generator: Generator): BatchNorm2d {
  const module = new BatchNorm2d(channels, float64);
  module.loadStateDict({
    weight: generator.uniform([channels], { ...float64, low: 0.5, high: 2 }),
    bias: generator.normal([channels], float64),
    running_mean: generator.normal([channels], float64),
    running_var: generator.uniform([channels], { ...float64, low: 0.5, high: 2 }),
  });
  return module.eval();
}

/** Class labels `[n]` (int32) drawn from `generator`. */
function labels(n: number, classes: number, generator: Generator): Tensor {
  return tensor(
    Array.from({ length: n }, () => Math.floor(generator.uniform([1], float64).item() * classes)),
    [n],
    { backend: cpu, dtype: 'int32' },
  );
}

/** Conv2d, Sigmoid, MaxPool2d, BatchNorm2d (evaluation), Flatten, Linear, Tanh, Linear on 1×4×4 images, 3 outputs. */
export function convNet(seed: number): Module {
  const generator = new Generator(seed);
  return extend(
    new Sequential(
      new Conv2d(1, 2, 3, { padding: 1, ...float64, generator }),
      new Sigmoid(),
      new MaxPool2d(2),
      evalBatchNorm(2, generator),
      new Flatten(),
      new Linear(8, 3, { ...float64, generator }),
      new Tanh(),
      new Linear(3, 3, { ...float64, generator }),
    ),
  );
}

/** Conv2d, ReLU, AvgPool2d, Flatten, Linear, ELU, Linear on 1×4×4 images, 2 outputs. */
export function poolNet(seed: number): Module {
  const generator = new Generator(seed);
  return extend(
    new Sequential(
      new Conv2d(1, 2, 2, { ...float64, generator }),
      new ReLU(),
      new AvgPool2d(3, { stride: 1 }),
      new Flatten(),
      new Linear(2, 3, { ...float64, generator }),
      new ELU(),
      new Linear(3, 2, { ...float64, generator }),
    ),
  );
}

/** A data set of batches of `sizes` samples of 1×4×4 images, with class labels or regression targets. */
export function imageData(sizes: readonly number[], outputs: number, loss: 'ce' | 'mse', seed: number): [Tensor, Tensor][] {
  const generator = new Generator(seed);
  return sizes.map((n) => [
    generator.normal([n, 1, 4, 4], float64),
    loss === 'ce' ? labels(n, outputs, generator) : generator.normal([n, outputs], float64),
  ]);
}

/** The problems most tests run on: both losses, both reductions, unequal batches. */
export function problems(sizes: readonly number[] = [3, 1, 2]): Problem[] {
  const make = (name: string, model: Module, outputs: number, loss: 'ce' | 'mse', reduction: Reduction, seed: number): Problem => ({
    name: `${name}, ${loss === 'ce' ? 'CrossEntropyLoss' : 'MSELoss'} '${reduction}'`,
    model,
    lossFunction: extend(loss === 'ce' ? new CrossEntropyLoss(reduction) : new MSELoss(reduction)),
    data: imageData(sizes, outputs, loss, seed),
  });
  return [
    make('conv net', convNet(1), 3, 'ce', 'mean', 11),
    make('conv net', convNet(2), 3, 'mse', 'sum', 12),
    make('pool net', poolNet(3), 2, 'mse', 'mean', 13),
    make('pool net', poolNet(4), 2, 'ce', 'sum', 14),
  ];
}

/** The trainable parameters of a problem's model. */
export function trainable(problem: Problem) {
  return problem.model.parameters().filter((p) => p.requiresGrad);
}
