/**
 * Brute-force check of the first-order extensions: per-sample gradients are
 * computed by running the ordinary backward pass on one sample at a time, and
 * BatchGrad, Variance, SumGradSquared and BatchL2Grad are checked against
 * their definitions evaluated from those gradients (helpers/brute-force.ts).
 *
 * Scaling as in the reference (BackPACK): with reduction `mean` over N
 * samples the per-sample gradient is the gradient of (loss of sample n) / N,
 * so the per-sample gradients sum to `.grad`.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  type Tensor,
} from '@backpack-ts/core';
import { ScaleShift } from '@backpack-ts/conformance';
import { classTargets, describeBruteForce, type Setup } from './helpers/brute-force.js';

const dtype = 'float64';

/** A linear layer applied twice (weight sharing), with a head: head(tanh(shared(tanh(shared(x))))). */
class SharedTwice extends Module {
  readonly typeName = 'SharedTwice';
  private readonly shared: Linear;
  private readonly act: Tanh;
  private readonly head: Linear;

  constructor(features: number, classes: number, generator: Generator) {
    super();
    this.shared = this.registerModule('shared', new Linear(features, features, { backend: cpu, dtype, generator }));
    this.act = this.registerModule('act', new Tanh());
    this.head = this.registerModule('head', new Linear(features, classes, { backend: cpu, dtype, generator }));
  }

  forward(x: Tensor): Tensor {
    const hidden = this.act.forward(this.shared.forward(x));
    return this.head.forward(this.act.forward(this.shared.forward(hidden)));
  }
}

function linear(inFeatures: number, outFeatures: number, generator: Generator): Linear {
  return new Linear(inFeatures, outFeatures, { backend: cpu, dtype, generator });
}

function uniform(generator: Generator, shape: number[]): Tensor {
  return generator.uniform(shape, { low: -1, high: 1, backend: cpu, dtype });
}

const setups: readonly Setup[] = [
  {
    name: 'MLP Linear-Tanh-Linear-ReLU-Linear, CrossEntropyLoss mean',
    batch: 5,
    build: () => {
      const g = new Generator(1);
      const model = new Sequential(linear(6, 5, g), new Tanh(), linear(5, 4, g), new ReLU(), linear(4, 3, g));
      return { model, loss: new CrossEntropyLoss('mean'), input: uniform(g, [5, 6]), target: classTargets(g, 5, 3) };
    },
  },
  {
    name: 'MLP Linear-Sigmoid-Linear, MSELoss sum',
    batch: 4,
    build: () => {
      const g = new Generator(2);
      const model = new Sequential(linear(5, 4, g), new Sigmoid(), linear(4, 2, g));
      return { model, loss: new MSELoss('sum'), input: uniform(g, [4, 5]), target: uniform(g, [4, 2]) };
    },
  },
  {
    name: 'Linear on [N, 3, in] inputs (non-factorising path), MSELoss mean',
    batch: 4,
    build: () => {
      const g = new Generator(3);
      const model = new Sequential(linear(4, 5, g), new Tanh(), linear(5, 2, g));
      return { model, loss: new MSELoss('mean'), input: uniform(g, [4, 3, 4]), target: uniform(g, [4, 3, 2]) };
    },
  },
  {
    name: 'Linear on [N, 2, 4, in] inputs, more positions than weights (BatchL2Grad in chunks of samples), MSELoss sum',
    batch: 3,
    build: () => {
      const g = new Generator(7);
      const model = new Sequential(linear(2, 3, g), new Tanh(), linear(3, 2, g));
      return { model, loss: new MSELoss('sum'), input: uniform(g, [3, 2, 4, 2]), target: uniform(g, [3, 2, 4, 2]) };
    },
  },
  {
    name: 'Linear on [N, 3, in], Flatten, Linear, CrossEntropyLoss mean',
    batch: 4,
    build: () => {
      const g = new Generator(4);
      const model = new Sequential(linear(4, 5, g), new Tanh(), new Flatten(), linear(15, 3, g));
      return { model, loss: new CrossEntropyLoss('mean'), input: uniform(g, [4, 3, 4]), target: classTargets(g, 4, 3) };
    },
  },
  {
    name: 'shared Linear used twice, CrossEntropyLoss mean',
    batch: 5,
    build: () => {
      const g = new Generator(5);
      const model = new SharedTwice(4, 3, g);
      return { model, loss: new CrossEntropyLoss('mean'), input: uniform(g, [5, 4]), target: classTargets(g, 5, 3) };
    },
  },
  {
    name: 'a third-party module with the trait perSampleParameterJacobian, CrossEntropyLoss mean',
    batch: 4,
    build: () => {
      const g = new Generator(6);
      const model = new Sequential(linear(3, 4, g), new ScaleShift(4, { backend: cpu, dtype, generator: g }), new Tanh(), linear(4, 3, g));
      return { model, loss: new CrossEntropyLoss('mean'), input: uniform(g, [4, 3]), target: classTargets(g, 4, 3) };
    },
  },
];

describeBruteForce(setups);
