/**
 * Brute-force check of the first-order extensions: per-sample gradients are
 * computed by running the ordinary backward pass on one sample at a time, and
 * BatchGrad, Variance, SumGradSquared and BatchL2Grad are checked against
 * their definitions evaluated here from those gradients.
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
  backpack,
  extend,
  slice,
  tensor,
  type Extension,
  type LossModule,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '../src/index.js';

const TOLERANCE = 1e-12;
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

interface Problem {
  readonly model: Module;
  readonly loss: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
}

interface Setup {
  readonly name: string;
  readonly batch: number;
  /** Builds the same problem (same parameters and data) every time it is called. */
  readonly build: () => Problem;
}

function linear(inFeatures: number, outFeatures: number, generator: Generator): Linear {
  return new Linear(inFeatures, outFeatures, { backend: cpu, dtype, generator });
}

function uniform(generator: Generator, shape: number[]): Tensor {
  return generator.uniform(shape, { low: -1, high: 1, backend: cpu, dtype });
}

function classTargets(generator: Generator, n: number, classes: number): Tensor {
  const data = Array.from({ length: n }, () => Math.floor(generator.nextUniform() * classes));
  return tensor(data, [n], { backend: cpu, dtype: 'int32' });
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
];

/** Per-sample gradients `g[name][n]` from ordinary backward passes on one sample at a time. */
function bruteForcePerSampleGradients(setup: Setup): Map<string, Float64Array[]> {
  const { model, loss, input, target } = setup.build();
  extend(model);
  extend(loss);
  const n = setup.batch;
  const scale = loss.reduction === 'mean' ? 1 / n : 1;
  const gradients = new Map<string, Float64Array[]>(model.namedParameters().map(([name]) => [name, []]));
  for (let i = 0; i < n; i++) {
    model.zeroGrad();
    const output = model.forward(slice(input, [i], [1]));
    loss.forward(output, slice(target, [i], [1])).backward();
    for (const [name, parameter] of model.namedParameters()) {
      gradients.get(name)!.push(Float64Array.from(parameter.grad!.toArray(), (v) => v * scale));
    }
  }
  return gradients;
}

/** The definitions of the four quantities, from per-sample gradients. */
function definitions(perSample: readonly Float64Array[]) {
  const n = perSample.length;
  const size = perSample[0]!.length;
  const grad = new Float64Array(size);
  const sumGradSquared = new Float64Array(size);
  const variance = new Float64Array(size);
  for (const g of perSample) {
    for (let j = 0; j < size; j++) {
      grad[j]! += g[j]!;
      sumGradSquared[j]! += g[j]! ** 2;
    }
  }
  for (const g of perSample) {
    for (let j = 0; j < size; j++) variance[j]! += (g[j]! - grad[j]! / n) ** 2 / n;
  }
  const gradBatch = new Float64Array(n * size);
  perSample.forEach((g, i) => gradBatch.set(g, i * size));
  const batchL2 = Float64Array.from(perSample, (g) => g.reduce((s, v) => s + v * v, 0));
  return { grad, gradBatch, variance, sumGradSquared, batchL2 };
}

type Field = keyof ReturnType<typeof definitions>;

/** Max |a - b| / max |b|. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return Number.isNaN(error) ? Number.NaN : error / Math.max(scale, 1e-300);
}

function expectMatches(parameter: Parameter, field: Field, expected: Float64Array, expectedShape: number[], label: string): void {
  const actual = (parameter as unknown as Record<string, Tensor | undefined>)[field];
  expect(actual, `${label}: ${field} was not computed`).toBeDefined();
  expect(actual!.shape, `${label}: ${field} shape`).toEqual(expectedShape);
  const error = relativeError(actual!.toArray(), expected);
  expect(error, `${label}: ${field} relative error`).toBeLessThanOrEqual(TOLERANCE);
}

const fieldOf: Readonly<Record<string, Field>> = {
  BatchGrad: 'gradBatch',
  Variance: 'variance',
  SumGradSquared: 'sumGradSquared',
  BatchL2Grad: 'batchL2',
};

const extensionSets: readonly { label: string; make: () => Extension[] }[] = [
  { label: 'all four together', make: () => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()] },
  { label: 'BatchGrad alone', make: () => [new BatchGrad()] },
  { label: 'Variance alone', make: () => [new Variance()] },
  { label: 'SumGradSquared alone', make: () => [new SumGradSquared()] },
  { label: 'BatchL2Grad alone', make: () => [new BatchL2Grad()] },
];

describe.each(setups)('brute force: $name', (setup) => {
  let perSample: Map<string, Float64Array[]>;
  beforeAll(() => {
    perSample = bruteForcePerSampleGradients(setup);
  });

  it.each(extensionSets)('$label', ({ make }) => {
    const extensions = make();
    const { model, loss, input, target } = setup.build();
    extend(model);
    extend(loss);
    backpack(extensions, () => loss.forward(model.forward(input), target).backward());

    const parameters = model.namedParameters();
    expect(parameters.map(([name]) => name)).toEqual([...perSample.keys()]);
    for (const [name, parameter] of parameters) {
      const expected = definitions(perSample.get(name)!);
      const shape = [...parameter.data.shape];
      const label = `${setup.name} / ${name}`;
      expectMatches(parameter, 'grad', expected.grad, shape, label);
      for (const extension of extensions) {
        const field = fieldOf[extension.name]!;
        const expectedShape = field === 'gradBatch' ? [setup.batch, ...shape] : field === 'batchL2' ? [setup.batch] : shape;
        expectMatches(parameter, field, expected[field], expectedShape, label);
      }
      // Extensions that did not run leave their fields unset.
      for (const [extensionName, field] of Object.entries(fieldOf)) {
        if (!extensions.some((e) => e.name === extensionName)) {
          expect((parameter as unknown as Record<string, unknown>)[field]).toBeUndefined();
        }
      }
    }
  });
});
