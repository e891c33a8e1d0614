/**
 * Derivatives of derivatives through module nodes (`createGraph`): a module
 * call is one node whose hand-written derivatives run with recording on, and
 * whose saved tensors stay connected to its inputs and parameters through
 * the ops it ran. Checked against independent finite differences:
 *
 * - for every module kind of the golden suites, a Hessian-vector product of
 *   `⟨v, module(x)⟩` (a loss's value) w.r.t. its input and parameters
 *   jointly, against central differences of the gradient;
 * - a network's Hessian-vector products against its dense Hessian built
 *   column by column from differences of gradients (float64, 1e-8);
 * - the gradient of the sum of Variance (computed with `createGraph`)
 *   against differences of that sum.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BCEWithLogitsLoss,
  BatchNorm1d,
  BatchNorm2d,
  Conv1d,
  Conv2d,
  ConvTranspose2d,
  CrossEntropyLoss,
  Dropout,
  Embedding,
  Flatten,
  Generator,
  LSTM,
  MaxPool2d,
  MSELoss,
  RNN,
  Sequential,
  Tanh,
  ZeroPad2d,
  add,
  backpack,
  grad,
  mul,
  sum,
  tensor,
  type LeafModule,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { EXTENSIONS } from '@backpack-ts/catalog';
import { activations } from './helpers/activations.js';
import { expectClose } from './helpers/close.js';
import { linear } from './helpers/models.js';
import { randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

/** Central differences of exact gradients with Richardson extrapolation: error O(h⁴) plus rounding. */
const FD_RTOL = 1e-7;

/** One module call as a function of its input (when it is a float) and its parameters. */
interface Setup {
  readonly module: LeafModule;
  readonly input: Tensor;
  /** Further inputs held fixed (a loss's target). */
  readonly rest?: readonly Tensor[];
  /** Runs before every forward pass (reseeds Dropout, so each pass draws one mask). */
  readonly beforeForward?: () => void;
}

const g = (seed: number) => ({ backend: cpu, generator: new Generator(seed) });

function evalBatchNorm<M extends BatchNorm1d | BatchNorm2d>(module: M): M {
  const c = module.numFeatures;
  module.loadStateDict({
    weight: randomTensor([c], 11, { low: 0.5, high: 2 }),
    bias: randomTensor([c], 12),
    running_mean: randomTensor([c], 13),
    running_var: randomTensor([c], 14, { low: 0.5, high: 2 }),
  });
  module.eval();
  return module;
}

const dropoutGenerator = new Generator(0);

const cases: { name: string; make: () => Setup }[] = [
  { name: 'Linear', make: () => ({ module: linear(3, 2, 1), input: randomTensor([4, 3], 1) }) },
  { name: 'Linear on [N, 2, in]', make: () => ({ module: linear(3, 2, 1), input: randomTensor([2, 2, 3], 1) }) },
  { name: 'Conv1d', make: () => ({ module: new Conv1d(2, 2, 3, { padding: 1, ...g(1) }), input: randomTensor([2, 2, 5], 1) }) },
  { name: 'Conv2d, stride 2', make: () => ({ module: new Conv2d(2, 3, 3, { stride: 2, padding: 1, ...g(2) }), input: randomTensor([2, 2, 4, 4], 1) }) },
  { name: 'ConvTranspose2d', make: () => ({ module: new ConvTranspose2d(2, 2, 2, { stride: 2, ...g(3) }), input: randomTensor([2, 2, 2, 2], 1) }) },
  ...activations.map(({ name, make }) => ({ name, make: () => ({ module: make(), input: randomTensor([3, 4], 2, { minAbs: 0.05 }) }) })),
  { name: 'MaxPool2d', make: () => ({ module: new MaxPool2d(2), input: randomTensor([2, 2, 4, 4], 3) }) },
  { name: 'AvgPool2d', make: () => ({ module: new AvgPool2d(2), input: randomTensor([2, 2, 4, 4], 3) }) },
  { name: 'AdaptiveAvgPool2d', make: () => ({ module: new AdaptiveAvgPool2d(3), input: randomTensor([2, 2, 4, 4], 3) }) },
  { name: 'ZeroPad2d', make: () => ({ module: new ZeroPad2d(1), input: randomTensor([2, 2, 3, 3], 3) }) },
  { name: 'Flatten', make: () => ({ module: new Flatten(), input: randomTensor([2, 2, 3], 3) }) },
  { name: 'BatchNorm1d (evaluation)', make: () => ({ module: evalBatchNorm(new BatchNorm1d(3, { backend: cpu })), input: randomTensor([4, 3], 4) }) },
  { name: 'BatchNorm2d (evaluation)', make: () => ({ module: evalBatchNorm(new BatchNorm2d(2, { backend: cpu })), input: randomTensor([2, 2, 3, 3], 4) }) },
  {
    name: 'Dropout (training)',
    make: () => ({ module: new Dropout(0.3, dropoutGenerator), input: randomTensor([3, 4], 5), beforeForward: () => dropoutGenerator.manualSeed(7) }),
  },
  {
    name: 'Embedding',
    make: () => ({ module: new Embedding(5, 3, g(6)), input: tensor([1, 4, 0, 4], [2, 2], { backend: cpu, dtype: 'int32' }) }),
  },
  { name: 'RNN (tanh, 2 layers, batch-first)', make: () => ({ module: new RNN(3, 2, { numLayers: 2, batchFirst: true, ...g(12) }), input: randomTensor([2, 3, 3], 12) }) },
  { name: 'LSTM (time-major)', make: () => ({ module: new LSTM(2, 2, g(13)), input: randomTensor([3, 2, 2], 13) }) },
  { name: 'CrossEntropyLoss', make: () => ({ module: new CrossEntropyLoss(), input: randomTensor([3, 4], 7, { low: -2, high: 2 }), rest: [t([2, 0, 3], [3], 'int32')] }) },
  { name: 'MSELoss', make: () => ({ module: new MSELoss('sum'), input: randomTensor([3, 2], 8), rest: [randomTensor([3, 2], 9)] }) },
  {
    name: 'BCEWithLogitsLoss',
    make: () => ({ module: new BCEWithLogitsLoss(), input: randomTensor([3, 2], 10, { low: -3, high: 3 }), rest: [randomTensor([3, 2], 11, { low: 0, high: 1 })] }),
  },
];

/** The tensors differentiated: the input (a float one) and the module's parameters' data. */
function variables({ module, input }: Setup): Tensor[] {
  const float = input.dtype === 'int32' ? [] : [input];
  return [...float, ...module.ownNamedParameters().map(([, p]) => p.data)];
}

/** `⟨v, module(input)⟩`, or the loss itself for a loss module (its output is a scalar). */
function objective(setup: Setup, input: Tensor, v: Tensor | undefined): Tensor {
  setup.beforeForward?.();
  const out = setup.module.forward(input, ...(setup.rest ?? []));
  return v === undefined ? out : sum(mul(out, v));
}

/** The gradient w.r.t. the variables at the given values (the input and parameters replaced, then restored), flat. */
function gradientAt(setup: Setup, at: readonly number[][], v: Tensor | undefined): number[][] {
  const parameters = setup.module.ownNamedParameters().map(([, p]) => p);
  const floatInput = setup.input.dtype !== 'int32';
  const originals = parameters.map((p) => p.data);
  try {
    const [inputValues, ...parameterValues] = floatInput ? at : [undefined, ...at];
    const input = floatInput ? t(inputValues!, setup.input.shape).requiresGrad_() : setup.input;
    parameters.forEach((p, i) => (p.data = t(parameterValues[i]!, p.data.shape)));
    const gradients = grad(objective(setup, input, v), [...(floatInput ? [input] : []), ...parameters.map((p) => p.data)]);
    return gradients.map((x) => values(x!));
  } finally {
    parameters.forEach((p, i) => (p.data = originals[i]!));
  }
}

/** (H u) by central differences of gradients along u, Richardson-extrapolated. */
function hessianVectorByDifferences(setup: Setup, at: readonly number[][], u: readonly number[][], v: Tensor | undefined): number[][] {
  const along = (h: number) => {
    const shift = (sign: number) => at.map((x, i) => x.map((xi, j) => xi + sign * h * u[i]![j]!));
    const [plus, minus] = [gradientAt(setup, shift(1), v), gradientAt(setup, shift(-1), v)];
    return plus.map((p, i) => p.map((pi, j) => (pi - minus[i]![j]!) / (2 * h)));
  };
  const [coarse, fine] = [along(2e-3), along(1e-3)];
  return fine.map((f, i) => f.map((fi, j) => (4 * fi - coarse[i]![j]!) / 3));
}

describe.each(cases)('$name: second derivatives through the module node', ({ make }) => {
  it('a Hessian-vector product by double backward equals differences of the gradient', () => {
    const setup = make();
    if (setup.input.dtype !== 'int32') setup.input.requiresGrad_();
    const leaves = variables(setup);
    const probe = setup.module.forward(setup.input, ...(setup.rest ?? []));
    const v = probe.size === 1 ? undefined : randomTensor(probe.shape, 21);
    const u = leaves.map((leaf, i) => randomTensor(leaf.shape, 30 + i));

    const gradients = grad(objective(setup, setup.input, v), leaves, { createGraph: true });
    const dot = gradients.map((gi, i) => sum(mul(gi!, u[i]!))).reduce((a, b) => add(a, b));
    // Piecewise linear modules have no curvature: their gradient does not even depend on the variables.
    const hu = dot.requiresGrad ? grad(dot, leaves, { allowUnused: true }) : leaves.map(() => undefined);

    const expected = hessianVectorByDifferences(setup, leaves.map(values), u.map(values), v);
    hu.forEach((h, i) => expectClose(h === undefined ? expected[i]!.map(() => 0) : h, expected[i]!, FD_RTOL));
  });
});

/** Linear, Tanh, Linear with CrossEntropyLoss: its parameters' flat vector θ, the loss, and the gradient as functions of θ. */
function network() {
  const model = new Sequential(linear(3, 4, 1), new Tanh(), linear(4, 3, 2));
  const lossFunction = new CrossEntropyLoss();
  const x = randomTensor([5, 3], 3);
  const y = t([0, 2, 1, 1, 0], [5], 'int32');
  const parameters = model.parameters();
  const loss = () => lossFunction.forward(model.forward(x), y);
  /** Sets θ (flat, in `parameters()` order). */
  const assign = (theta: readonly number[]) => {
    let offset = 0;
    for (const p of parameters) {
      p.data = t(theta.slice(offset, offset + p.data.size), p.data.shape);
      offset += p.data.size;
    }
  };
  const theta = parameters.flatMap((p) => values(p.data));
  return { model, parameters, loss, assign, theta };
}

function flatGradient(parameters: readonly Parameter[], loss: Tensor): number[] {
  return grad(loss, parameters.map((p) => p.data)).flatMap((gi) => values(gi!));
}

describe('a network', () => {
  it("Hessian-vector products by double backward equal its dense Hessian, built column by column from differences of gradients (1e-8)", () => {
    const { parameters, loss, assign, theta } = network();
    const d = theta.length;
    const column = (j: number) => {
      const at = (h: number) => {
        const shifted = (sign: number) => {
          assign(theta.map((v, i) => (i === j ? v + sign * h : v)));
          return flatGradient(parameters, loss());
        };
        const [plus, minus] = [shifted(1), shifted(-1)];
        return plus.map((p, i) => (p - minus[i]!) / (2 * h));
      };
      const [coarse, fine] = [at(2e-3), at(1e-3)];
      return fine.map((f, i) => (4 * f - coarse[i]!) / 3);
    };
    const hessian = Array.from({ length: d }, (_, j) => column(j));
    assign(theta);

    const leaves = parameters.map((p) => p.data);
    const gradients = grad(loss(), leaves, { createGraph: true });
    for (const seed of [40, 41, 42]) {
      const u = randomNumbers(d, seed);
      let offset = 0;
      const dot = gradients
        .map((gi) => {
          const piece = t(u.slice(offset, offset + gi!.size), gi!.shape);
          offset += gi!.size;
          return sum(mul(gi!, piece));
        })
        .reduce((a, b) => add(a, b));
      const hu = grad(dot, leaves, { retainGraph: true }).flatMap((h) => values(h!));
      const expected = Array.from({ length: d }, (_, i) => hessian.reduce((s, col, j) => s + col[i]! * u[j]!, 0));
      expectClose(hu, expected, 1e-8);
    }
  });

  it('the gradient of the sum of the variances (Variance with createGraph) equals differences of that sum', () => {
    const { model, parameters, loss, assign, theta } = network();
    const variance = EXTENSIONS.get('Variance')!;
    const totalVariance = (createGraph: boolean): Tensor => {
      backpack([variance.create()], () => loss().backward({ createGraph }));
      const fields = parameters.map((p) => p.variance!);
      model.zeroGrad();
      return fields.map((f) => sum(f)).reduce((a, b) => add(a, b));
    };
    const total = totalVariance(true);
    expect(total.requiresGrad).toBe(true);
    const gradient = grad(total, parameters.map((p) => p.data)).flatMap((gi) => values(gi!));

    const numeric = theta.map((_, j) => {
      const at = (h: number) => {
        const shifted = (sign: number) => {
          assign(theta.map((v, i) => (i === j ? v + sign * h : v)));
          return totalVariance(false).item();
        };
        return (shifted(1) - shifted(-1)) / (2 * h);
      };
      return (4 * at(1e-3) - at(2e-3)) / 3;
    });
    expectClose(gradient, numeric, FD_RTOL);
  });
});
