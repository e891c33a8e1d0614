/**
 * The brute-force check shared by brute-force.test.ts and layers.test.ts:
 * per-sample gradients from the ordinary backward pass on one sample at a
 * time, and BatchGrad, Variance, SumGradSquared and BatchL2Grad checked
 * against their definitions evaluated from those gradients.
 *
 * Scaling as in the reference (BackPACK): with reduction `mean` over N
 * samples the per-sample gradient is the gradient of (loss of sample n) / N,
 * so the per-sample gradients sum to `.grad`.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  backpack,
  extend,
  slice,
  tensor,
  type Extension,
  type Generator,
  type LossModule,
  type Module,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '../../src/index.js';

/** Largest relative error accepted against the definitions (float64). */
export const TOLERANCE = 1e-12;

/** A model, its loss and a batch. */
export interface Problem {
  readonly model: Module;
  readonly loss: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
}

/** A named problem with its batch size. */
export interface Setup {
  readonly name: string;
  readonly batch: number;
  /** Builds the same problem (same parameters and data) every time it is called. */
  readonly build: () => Problem;
}

/** `n` random int32 class indices below `classes` on the CPU backend. */
export function classTargets(generator: Generator, n: number, classes: number): Tensor {
  const data = Array.from({ length: n }, () => Math.floor(generator.nextUniform() * classes));
  return tensor(data, [n], { backend: cpu, dtype: 'int32' });
}

/** Per-sample gradients `g[name][n]` from ordinary backward passes on one sample at a time. */
function bruteForcePerSampleGradients(setup: Setup): Map<string, Float64Array[]> {
  const { model, loss, input, target } = setup.build();
  extend(model);
  extend(loss);
  // Sample n's term of a mean loss is its own (one-sample) loss divided by N.
  const scale = loss.reduction === 'mean' ? 1 / setup.batch : 1;
  const gradients = new Map<string, Float64Array[]>(model.namedParameters().map(([name]) => [name, []]));
  for (let i = 0; i < setup.batch; i++) {
    model.zeroGrad();
    // Sample i, keeping the batch dimension (slice takes the unlisted dimensions whole).
    loss.forward(model.forward(slice(input, [i], [1])), slice(target, [i], [1])).backward();
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
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
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

/** The field each first-order extension saves to on a parameter, by extension name. */
export const fieldOf: Readonly<Record<string, Field>> = {
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

/**
 * One `brute force: <name>` suite per setup, one test per extension set: the
 * four together and each alone. Every parameter's `.grad` and each computed
 * quantity must match its definition (shape and values); the quantities of
 * extensions that did not run must stay unset.
 */
export function describeBruteForce(setups: readonly Setup[]): void {
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
}
