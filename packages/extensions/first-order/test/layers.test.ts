/**
 * The first-order extensions on convolutions, transposed convolutions,
 * pooling, padding, BatchNorm (evaluation mode) and Embedding, against their
 * definitions evaluated from brute-force per-sample gradients (one ordinary
 * backward pass per sample; helpers/brute-force.ts).
 *
 * The networks are sized so that every path of the factored rules runs:
 * - BatchL2Grad through the position Gram matrices (`L² < A·B`) and through
 *   per-sample gradients;
 * - SumGradSquared and Variance a chunk of samples at a time (several
 *   chunks when `L·(A + B) < A·B`) and in one chunk;
 * - transposed convolutions whose output padding adds window positions past
 *   the input (the input padded with zeros at the end).
 *
 * BatchNorm in training mode: every first-order extension refuses the pass
 * before anything is modified; `.grad` alone still works.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  AdaptiveAvgPool2d,
  AvgPool1d,
  BatchNorm1d,
  BatchNorm2d,
  BCEWithLogitsLoss,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  CrossEntropyLoss,
  Embedding,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  MaxPool2d,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  ZeroPad2d,
  backpack,
  extend,
  tensor,
  type Parameter,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '../src/index.js';
import { classTargets, describeBruteForce, fieldOf, relativeError, TOLERANCE, type Setup } from './helpers/brute-force.js';

const options = { backend: cpu, dtype: 'float64' as const };

/** Random running statistics, scale and shift, so that BatchNorm (evaluation) is not the identity. */
function randomizeBatchNorm(norm: BatchNorm1d | BatchNorm2d, generator: Generator): void {
  const c = norm.numFeatures;
  norm.loadStateDict({
    weight: generator.uniform([c], { ...options, low: 0.5, high: 1.5 }),
    bias: generator.uniform([c], { ...options, low: -0.5, high: 0.5 }),
    running_mean: generator.uniform([c], { ...options, low: -0.5, high: 0.5 }),
    running_var: generator.uniform([c], { ...options, low: 0.5, high: 2 }),
  });
}

const setups: readonly Setup[] = [
  {
    // Layer 0: L = 36, A = 3, B = 18: BatchL2 from per-sample gradients (L² > A·B), one chunk.
    // Layer 3: L = 1, A = 8, B = 54: BatchL2 through the Gram matrices; L·(A + B) < A·B: chunks of one sample.
    name: 'grouped Conv2d, ReLU, MaxPool2d, Conv2d (stride 2), Flatten, Linear; CrossEntropyLoss mean',
    batch: 5,
    build: () => {
      const g = new Generator(11);
      const model = new Sequential(
        new Conv2d(4, 6, 3, { padding: 1, groups: 2, ...options, generator: g }),
        new ReLU(),
        new MaxPool2d(2),
        new Conv2d(6, 8, 3, { stride: 2, ...options, generator: g }),
        new Flatten(),
        new Linear(8, 3, { ...options, generator: g }),
      );
      return { model, loss: new CrossEntropyLoss(), input: g.normal([5, 4, 6, 6], options), target: classTargets(g, 5, 3) };
    },
  },
  {
    name: 'ConvTranspose1d (stride 2, padding 1, output_padding 1), Tanh, AvgPool1d, Flatten, Linear; MSELoss sum',
    batch: 4,
    build: () => {
      const g = new Generator(12);
      const model = new Sequential(
        new ConvTranspose1d(2, 3, 3, { stride: 2, padding: 1, outputPadding: 1, ...options, generator: g }),
        new Tanh(),
        new AvgPool1d(2),
        new Flatten(),
        new Linear(12, 2, { ...options, generator: g }),
      );
      return { model, loss: new MSELoss('sum'), input: g.normal([4, 2, 4], options), target: g.normal([4, 2], options) };
    },
  },
  {
    // output_padding 2 >= stride 1 (allowed below dilation 3): window positions past the input.
    name: 'grouped ConvTranspose2d (dilation 3, output_padding 2 >= stride), Sigmoid, AdaptiveAvgPool2d, Flatten, Linear; CrossEntropyLoss',
    batch: 3,
    build: () => {
      const g = new Generator(13);
      const model = new Sequential(
        new ConvTranspose2d(4, 2, 2, { padding: 1, dilation: 3, outputPadding: 2, groups: 2, ...options, generator: g }),
        new Sigmoid(),
        new AdaptiveAvgPool2d(2),
        new Flatten(),
        new Linear(8, 3, { ...options, generator: g }),
      );
      return { model, loss: new CrossEntropyLoss(), input: g.normal([3, 4, 3, 2], options), target: classTargets(g, 3, 3) };
    },
  },
  {
    name: 'ZeroPad2d, Conv2d, BatchNorm2d (evaluation), ReLU, Flatten, Linear; BCEWithLogitsLoss',
    batch: 4,
    build: () => {
      const g = new Generator(14);
      const norm = new BatchNorm2d(3, options);
      randomizeBatchNorm(norm, g);
      const model = new Sequential(
        new ZeroPad2d([1, 0, 0, 1]),
        new Conv2d(2, 3, 2, { ...options, generator: g }),
        norm,
        new ReLU(),
        new Flatten(),
        new Linear(27, 2, { ...options, generator: g }),
      );
      model.eval();
      return { model, loss: new BCEWithLogitsLoss(), input: g.normal([4, 2, 3, 3], options), target: g.uniform([4, 2], options) };
    },
  },
  {
    name: 'Conv1d (dilation 2), BatchNorm1d on [N, C, L] (evaluation), Conv1d without bias; MSELoss mean on [N, 2, L]',
    batch: 3,
    build: () => {
      const g = new Generator(15);
      const norm = new BatchNorm1d(3, options);
      randomizeBatchNorm(norm, g);
      const model = new Sequential(
        new Conv1d(2, 3, 3, { dilation: 2, padding: 2, ...options, generator: g }),
        norm,
        new Tanh(),
        new Conv1d(3, 2, 2, { bias: false, ...options, generator: g }),
      );
      model.eval();
      return { model, loss: new MSELoss(), input: g.normal([3, 2, 5], options), target: g.normal([3, 2, 4], options) };
    },
  },
  {
    name: 'Conv3d, ReLU, Flatten, Linear; CrossEntropyLoss',
    batch: 3,
    build: () => {
      const g = new Generator(16);
      const model = new Sequential(
        new Conv3d(1, 2, 2, { ...options, generator: g }),
        new ReLU(),
        new Flatten(),
        new Linear(16, 3, { ...options, generator: g }),
      );
      return { model, loss: new CrossEntropyLoss(), input: g.normal([3, 1, 3, 3, 3], options), target: classTargets(g, 3, 3) };
    },
  },
  {
    // Repeated indices within a sample: their gradients add up in one row.
    name: 'Embedding on [N, 4] indices, Flatten, Tanh, Linear; CrossEntropyLoss',
    batch: 4,
    build: () => {
      const g = new Generator(17);
      const model = new Sequential(
        new Embedding(5, 3, { ...options, generator: g }),
        new Flatten(),
        new Tanh(),
        new Linear(12, 3, { ...options, generator: g }),
      );
      const indices = tensor([0, 1, 1, 4, 2, 2, 2, 3, 4, 0, 3, 0, 1, 3, 3, 2], [4, 4], { ...options, dtype: 'int32' });
      return { model, loss: new CrossEntropyLoss(), input: indices, target: classTargets(g, 4, 3) };
    },
  },
];

describeBruteForce(setups);

describe('BatchNorm in training mode', () => {
  function trainingProblem() {
    const g = new Generator(21);
    const model = extend(
      new Sequential(new Linear(4, 3, { ...options, generator: g }), new BatchNorm1d(3, options), new ReLU(), new Linear(3, 2, { ...options, generator: g })),
    );
    model.train();
    return { model, loss: extend(new CrossEntropyLoss()), input: g.normal([5, 4], options), target: classTargets(g, 5, 2) };
  }

  it.each([
    ['BatchGrad', () => new BatchGrad()],
    ['Variance', () => new Variance()],
    ['SumGradSquared', () => new SumGradSquared()],
    ['BatchL2Grad', () => new BatchL2Grad()],
  ] as const)('%s refuses the pass before anything is modified, naming the module', (name, make) => {
    const { model, loss, input, target } = trainingProblem();
    const value = loss.forward(model.forward(input), target);
    expect(() => backpack([make()], () => value.backward())).toThrow(
      new RegExp(`^${name} cannot run: BatchNorm1d '1' is in training mode: .*per-sample quantities .* are undefined`),
    );
    for (const [, parameter] of model.namedParameters()) {
      const fields = parameter as unknown as Record<string, unknown>;
      expect(parameter.grad).toBeUndefined();
      for (const field of Object.values(fieldOf)) expect(fields[field]).toBeUndefined();
    }
  });

  it('.grad still works without extensions', () => {
    const { model, loss, input, target } = trainingProblem();
    loss.forward(model.forward(input), target).backward();
    for (const [, parameter] of model.namedParameters()) expect(parameter.grad?.shape).toEqual(parameter.data.shape);
  });
});

/** A parameter's per-sample gradients must not depend on how the batch is chunked: an uneven last chunk. */
describe('chunking', () => {
  it('SumGradSquared and Variance of a Conv2d weight with 7 samples in chunks of 2 equal the one-chunk values', () => {
    // L = 1, A = 4, B = 27: chunk = floor(7 · 31 / 108) = 2 samples, the last chunk has 1.
    const g = new Generator(31);
    const make = () => {
      const generator = new Generator(32);
      return extend(new Sequential(new Conv2d(3, 4, 3, { ...options, generator }), new Tanh(), new Flatten(), new Linear(4, 2, { ...options, generator })));
    };
    const input = g.normal([7, 3, 3, 3], options);
    const target = classTargets(g, 7, 2);
    const model = make();
    backpack([new BatchGrad(), new SumGradSquared(), new Variance()], () =>
      extend(new CrossEntropyLoss()).forward(model.forward(input), target).backward(),
    );
    const weight: Parameter = model.namedParameters()[0]![1];
    const perSample = weight.gradBatch!.toArray();
    const size = weight.data.size;
    const sgs = new Float64Array(size);
    const mean = new Float64Array(size);
    for (let n = 0; n < 7; n++) for (let j = 0; j < size; j++) (sgs[j]! += perSample[n * size + j]! ** 2), (mean[j]! += perSample[n * size + j]! / 7);
    const variance = new Float64Array(size);
    for (let n = 0; n < 7; n++) for (let j = 0; j < size; j++) variance[j]! += (perSample[n * size + j]! - mean[j]!) ** 2 / 7;
    expect(relativeError(weight.sumGradSquared!.toArray(), sgs)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(weight.variance!.toArray(), variance)).toBeLessThanOrEqual(TOLERANCE);
  });
});
