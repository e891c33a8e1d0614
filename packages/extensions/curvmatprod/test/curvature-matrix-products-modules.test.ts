/**
 * HMP, GGNMP and PCHMP through every module the supported-layers table marks
 * Y that the other tests do not reach (Conv1d/3d, the transposed
 * convolutions, BatchNorm2d/3d in evaluation, Embedding, the 1d and 3d and
 * adaptive pooling, padding, Permute, Slicing, Identity, ScaleModule,
 * Dropout in both modes, LSTM with ReduceTuple) and the losses on other
 * shapes (CrossEntropyLoss [N, C, d1], MSELoss on [N, C, L],
 * BCEWithLogitsLoss), each with both reductions, against dense matrices
 * built column by column: the block Hessian by double backward, the GGN block
 * `Jᵀ H_loss J`, and the positive-curvature Hessian's dense recursion.
 */
import { describe, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  AvgPool1d,
  AvgPool3d,
  BatchNorm2d,
  BatchNorm3d,
  BCEWithLogitsLoss,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  CrossEntropyLoss,
  Dropout,
  ELU,
  Embedding,
  Flatten,
  Generator,
  Identity,
  Linear,
  LSTM,
  MaxPool1d,
  MaxPool3d,
  MSELoss,
  Pad,
  Permute,
  ReduceTuple,
  ScaleModule,
  Sequential,
  Sigmoid,
  Slicing,
  Tanh,
  ZeroPad2d,
  backpack,
  extend,
  tensor,
  type LeafModule,
  type LossModule,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP } from '../src/index.js';
import { denseHessian, denseJacobian, densePositiveCurvature, expectDenseClose, identityLike, rowsOf, sandwich } from './helpers/dense-curvature.js';

const RTOL = 1e-10;
const g = (seed: number) => ({ backend: cpu, dtype: 'float64' as const, generator: new Generator(seed) });

function random(shape: number[], seed: number, low = -1, high = 1): Tensor {
  return new Generator(seed).uniform(shape, { low, high, backend: cpu, dtype: 'float64' });
}

function classes(shape: number[], count: number, seed: number): Tensor {
  const generator = new Generator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Array.from({ length: size }, () => Math.floor(generator.nextUniform() * count)),
    shape,
    { backend: cpu, dtype: 'int32' },
  );
}

/** BatchNorm in evaluation mode with random statistics and affine parameters (the defaults would make it the identity). */
function evalBatchNorm<M extends BatchNorm2d | BatchNorm3d>(module: M, seed: number): M {
  const features = module.numFeatures;
  module.loadStateDict({
    weight: random([features], seed, 0.5, 2),
    bias: random([features], seed + 1),
    running_mean: random([features], seed + 2),
    running_var: random([features], seed + 3, 0.5, 2),
  });
  module.eval();
  return module;
}

interface Case {
  readonly name: string;
  /** The modules of the sequence, fresh, and what runs before each forward pass (reseeding a training-mode Dropout, so each pass draws one mask). */
  readonly build: () => { layers: LeafModule[]; beforeForward?: () => void };
  readonly input: () => Tensor;
  readonly loss: (reduction: Reduction) => LossModule;
  readonly target: () => Tensor;
  /** PCHMP refuses the sequence (a recurrent layer). */
  readonly noPCHMP?: boolean;
}

const crossEntropy = (reduction: Reduction) => new CrossEntropyLoss(reduction);
const targetClasses = (n: number, count: number) => () => classes([n], count, 40);

const cases: Case[] = [
  {
    name: 'Conv1d, Sigmoid, MaxPool1d, Flatten, Linear',
    build: () => ({ layers: [new Conv1d(1, 2, 2, g(1)), new Sigmoid(), new MaxPool1d(2), new Flatten(), new Linear(4, 3, g(2))] }),
    input: () => random([2, 1, 5], 3, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Conv1d, Tanh, AvgPool1d, Flatten, Linear',
    build: () => ({ layers: [new Conv1d(1, 2, 2, g(4)), new Tanh(), new AvgPool1d(2), new Flatten(), new Linear(4, 3, g(5))] }),
    input: () => random([2, 1, 5], 6, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Conv1d, ELU, AdaptiveAvgPool1d, Flatten, Linear',
    build: () => ({ layers: [new Conv1d(1, 2, 2, g(7)), new ELU(), new AdaptiveAvgPool1d(3), new Flatten(), new Linear(6, 3, g(8))] }),
    input: () => random([2, 1, 6], 9, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Conv3d, Sigmoid, MaxPool3d, Flatten, Linear',
    build: () => ({ layers: [new Conv3d(1, 2, 2, g(10)), new Sigmoid(), new MaxPool3d(2), new Flatten(), new Linear(2, 3, g(11))] }),
    input: () => random([2, 1, 3, 3, 3], 12, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Conv3d, Tanh, AvgPool3d, AdaptiveAvgPool3d, Flatten, Linear',
    build: () => ({
      layers: [new Conv3d(1, 2, 2, g(13)), new Tanh(), new AvgPool3d(2, { stride: 1 }), new AdaptiveAvgPool3d(1), new Flatten(), new Linear(2, 3, g(14))],
    }),
    input: () => random([2, 1, 4, 4, 4], 15, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'ConvTranspose1d, Tanh, Flatten, Linear',
    build: () => ({ layers: [new ConvTranspose1d(1, 2, 2, g(16)), new Tanh(), new Flatten(), new Linear(8, 3, g(17))] }),
    input: () => random([2, 1, 3], 18, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'ConvTranspose2d, Sigmoid, AdaptiveAvgPool2d, Flatten, Linear',
    build: () => ({ layers: [new ConvTranspose2d(1, 2, 2, g(19)), new Sigmoid(), new AdaptiveAvgPool2d(2), new Flatten(), new Linear(8, 3, g(20))] }),
    input: () => random([2, 1, 2, 2], 21, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'ConvTranspose3d, ELU, Flatten, Linear',
    build: () => ({ layers: [new ConvTranspose3d(1, 1, 2, g(22)), new ELU(), new Flatten(), new Linear(8, 2, g(23))] }),
    input: () => random([2, 1, 1, 1, 1], 24, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 2),
  },
  {
    name: 'Conv2d, BatchNorm2d (evaluation), Tanh, ZeroPad2d, Flatten, Linear',
    build: () => ({
      layers: [new Conv2d(1, 2, 2, g(25)), evalBatchNorm(new BatchNorm2d(2, { backend: cpu }), 26), new Tanh(), new ZeroPad2d(1), new Flatten(), new Linear(32, 3, g(27))],
    }),
    input: () => random([2, 1, 3, 3], 28, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'BatchNorm3d (evaluation), Sigmoid, Flatten, Linear',
    build: () => ({ layers: [evalBatchNorm(new BatchNorm3d(2, { backend: cpu }), 29), new Sigmoid(), new Flatten(), new Linear(16, 3, g(30))] }),
    input: () => random([2, 2, 2, 2, 2], 31, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Embedding, Tanh, Permute, Flatten, Linear',
    build: () => ({ layers: [new Embedding(4, 3, g(32)), new Tanh(), new Permute([0, 2, 1]), new Flatten(), new Linear(9, 3, g(33))] }),
    input: () => classes([2, 3], 4, 34),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Linear, Pad, Sigmoid, Slicing, Flatten, Linear',
    build: () => ({
      layers: [new Linear(3, 4, g(35)), new Pad([1, 0, 0, 2], { value: 0.5 }), new Sigmoid(), new Slicing([{}, { start: 1, step: 2 }]), new Flatten(), new Linear(10, 3, g(36))],
    }),
    input: () => random([2, 2, 3], 37, -2, 2),
    loss: crossEntropy,
    target: targetClasses(2, 3),
  },
  {
    name: 'Linear, Identity, Tanh, ScaleModule, Dropout (evaluation), Sigmoid, Dropout (training), Linear',
    build: () => {
      const generator = new Generator(38);
      const training = new Dropout(0.5, generator);
      return {
        layers: [new Linear(3, 4, g(39)), new Identity(), new Tanh(), new ScaleModule(0.5), new Dropout(0.5).eval(), new Sigmoid(), training.train(), new Linear(4, 3, g(41))],
        beforeForward: () => generator.manualSeed(38),
      };
    },
    input: () => random([3, 3], 42, -2, 2),
    loss: crossEntropy,
    target: targetClasses(3, 3),
  },
  {
    name: 'LSTM, ReduceTuple, Flatten, Linear',
    build: () => ({ layers: [new LSTM(2, 2, { batchFirst: true, ...g(43) }), new ReduceTuple(0), new Flatten(), new Linear(6, 2, g(44))] }),
    input: () => random([2, 3, 2], 45),
    loss: crossEntropy,
    target: targetClasses(2, 2),
    noPCHMP: true,
  },
  {
    name: 'Conv1d, Tanh into CrossEntropyLoss [N, C, d1]',
    build: () => ({ layers: [new Conv1d(1, 3, 2, g(46)), new Tanh()] }),
    input: () => random([2, 1, 4], 47, -2, 2),
    loss: crossEntropy,
    target: () => classes([2, 3], 3, 48),
  },
  {
    name: 'Conv1d, Sigmoid into MSELoss on [N, C, L]',
    build: () => ({ layers: [new Conv1d(1, 2, 2, g(49)), new Sigmoid()] }),
    input: () => random([2, 1, 4], 50, -2, 2),
    loss: (reduction) => new MSELoss(reduction),
    target: () => random([2, 2, 3], 51),
  },
  {
    name: 'Linear, Tanh, Linear into BCEWithLogitsLoss',
    build: () => ({ layers: [new Linear(3, 4, g(52)), new Tanh(), new Linear(4, 3, g(53))] }),
    input: () => random([2, 3], 54, -2, 2),
    loss: (reduction) => new BCEWithLogitsLoss(reduction),
    target: () => random([2, 3], 55, 0, 1),
  },
];

describe.each(cases)('$name', (testCase) => {
  it.each(['mean', 'sum'] as const)("HMP is the block Hessian, GGNMP the GGN block, PCHMP the positive-curvature Hessian (reduction '%s')", (reduction) => {
    const { layers, beforeForward } = testCase.build();
    const model = extend(new Sequential(...layers));
    const lossModule = testCase.loss(reduction);
    const [x, target] = [testCase.input(), testCase.target()];
    const forward = () => {
      beforeForward?.();
      const z = [x];
      for (const layer of layers) z.push(layer.forward(z[z.length - 1]!));
      return { z, loss: lossModule.forward(z[z.length - 1]!, target) };
    };
    const parameters = model.parameters();

    const reference = forward();
    const prediction = reference.z[layers.length]!;
    const lossHessian = denseHessian(reference.loss, prediction);
    const hessian = parameters.map((p) => denseHessian(reference.loss, p.data));
    const ggn = parameters.map((p) => sandwich(denseJacobian(prediction, p.data), lossHessian));
    const clipped = testCase.noPCHMP === true ? undefined : densePositiveCurvature(layers, reference.z, reference.loss, (lambda) => Math.max(lambda, 0));

    const { loss } = forward();
    backpack(testCase.noPCHMP === true ? [new HMP(), new GGNMP()] : [new HMP(), new GGNMP(), new PCHMP()], () => loss.backward());
    parameters.forEach((p, i) => {
      const identity = identityLike(p.data);
      expectDenseClose(rowsOf(p.hmp!(identity)), hessian[i]!, RTOL, `HMP of parameter ${i}`);
      expectDenseClose(rowsOf(p.ggnmp!(identity)), ggn[i]!, RTOL, `GGNMP of parameter ${i}`);
      if (clipped !== undefined) expectDenseClose(rowsOf(p.pchmp!(identity)), clipped.get(p)!, RTOL, `PCHMP('clip') of parameter ${i}`);
    });
  });
});
