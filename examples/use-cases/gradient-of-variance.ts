/**
 * Gradients of what the extensions compute (BackPACK's
 * `use_cases/example_gradient_of_variance.py`): a backward pass with
 * `createGraph` records how the quantities were computed, so they can be
 * differentiated again. Here: the total variance of the per-sample
 * gradients (Σ over parameters of `Variance`'s field) and its gradient
 * w.r.t. the parameters, checked against the same computed from per-sample
 * gradients one sample at a time, with autograd alone.
 *
 * Three problems, as in BackPACK's example: a linear model without bias on
 * random data with a summed square loss, a linear classifier and a small
 * CNN on MNIST digits with a summed cross-entropy.
 *
 *   pnpm example gradient-of-variance [--batch-size 32] [--backend cpu]
 */
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  MaxPool2d,
  ReLU,
  Sequential,
  add,
  backpack,
  concat,
  extend,
  grad,
  mean,
  reshape,
  slice,
  square,
  stack,
  sub,
  sum,
  tidy,
  type Backend,
  type FloatDType,
  type LossModule,
  type Tensor,
} from '@backpack-ts/core';
import { Variance } from '@backpack-ts/first-order';
import { exampleDType, maxAbsDifference, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** A model, its loss and a batch. */
export interface Problem {
  readonly name: string;
  readonly model: Sequential;
  readonly lossFunction: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
}

/** The total variance and its gradient (one tensor per parameter), as plain numbers. */
export interface VarianceAndGradient {
  readonly totalVariance: number;
  readonly gradient: readonly Tensor[];
}

/**
 * With BackPACK: one backward pass with `Variance` and `createGraph`, the
 * variances summed, then `grad` of that sum w.r.t. the parameters.
 */
export function totalVarianceAndGradientBackpack({ model, lossFunction, input, target }: Problem): VarianceAndGradient {
  return tidy(() => {
    model.zeroGrad();
    const loss = lossFunction.forward(model.forward(input), target);
    backpack(new Variance(), () => loss.backward({ retainGraph: true, createGraph: true }));
    const totalVariance = model.parameters().map((p) => sum(p.variance!)).reduce((a, b) => add(a, b));
    const gradient = grad(totalVariance, model.parameters().map((p) => p.data)).map((g) => g!);
    return { totalVariance: totalVariance.item(), gradient };
  });
}

/**
 * With autograd alone: each sample's gradient by its own forward pass and
 * `grad(..., { createGraph })`, flattened and stacked `[N, D]`; the variance
 * over the samples (biased, as BackPACK's), summed, and its gradient.
 */
export function totalVarianceAndGradientAutograd({ model, lossFunction, input, target }: Problem): VarianceAndGradient {
  return tidy(() => {
    const n = input.shape[0]!;
    const parameters = model.parameters().map((p) => p.data);
    const rows = Array.from({ length: n }, (_, i) => {
      const x = slice(input, input.shape.map((_, a) => (a === 0 ? i : 0)), [1, ...input.shape.slice(1)]);
      const y = slice(target, target.shape.map((_, a) => (a === 0 ? i : 0)), [1, ...target.shape.slice(1)]);
      const gradients = grad(lossFunction.forward(model.forward(x), y), parameters, { createGraph: true });
      return concat(gradients.map((g) => reshape(g!, [-1])), 0);
    });
    const perSample = stack(rows, 0);
    const totalVariance = sum(mean(square(sub(perSample, mean(perSample, [0], true))), [0]));
    const gradient = grad(totalVariance, parameters).map((g) => g!);
    return { totalVariance: totalVariance.item(), gradient };
  });
}

/** The three problems of BackPACK's example. */
export function problems(batchSize: number, backend: Backend, dtype: FloatDType): Problem[] {
  const generator = new Generator(0);
  const options = { backend, dtype, generator };
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  return [
    {
      name: 'linear model, random data, MSE',
      model: extend(new Sequential(new Linear(2, 1, { ...options, bias: false }))),
      lossFunction: extend(new MSELoss('sum')),
      input: generator.normal([3, 2], { backend, dtype }),
      target: generator.normal([3, 1], { backend, dtype }),
    },
    {
      name: 'linear classifier, MNIST',
      model: extend(new Sequential(new Flatten(), new Linear(784, 10, options))),
      lossFunction: extend(new CrossEntropyLoss('sum')),
      input: images,
      target: labels,
    },
    {
      name: 'CNN, MNIST',
      model: extend(new Sequential(new Conv2d(1, 5, 5, options), new ReLU(), new MaxPool2d(2, { stride: 2 }), new Flatten(), new Linear(720, 10, options))),
      lossFunction: extend(new CrossEntropyLoss('sum')),
      input: images,
      target: labels,
    },
  ];
}

/** What the example computed, per problem. */
export interface GradientOfVarianceResult {
  readonly problems: readonly Problem[];
  readonly backpack: readonly VarianceAndGradient[];
  readonly autograd: readonly VarianceAndGradient[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): GradientOfVarianceResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'gradient-of-variance', batchSize: 32 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const all = problems(batchSize, backend, dtype);
  const fromBackpack = all.map(totalVarianceAndGradientBackpack);
  const fromAutograd = all.map(totalVarianceAndGradientAutograd);
  all.forEach((problem, i) => {
    const [bp, ag] = [fromBackpack[i]!, fromAutograd[i]!];
    print(`${problem.name}: total variance ${bp.totalVariance.toPrecision(8)} (BackPACK), ${ag.totalVariance.toPrecision(8)} (autograd)`);
    for (const [j, [name]] of problem.model.namedParameters().entries()) {
      print(`    gradient of the total variance w.r.t. ${name}: largest difference ${maxAbsDifference(bp.gradient[j]!, ag.gradient[j]!).toExponential(2)}`);
    }
  });
  return { problems: all, backpack: fromBackpack, autograd: fromAutograd };
}

runIfMain(import.meta.url, main);
