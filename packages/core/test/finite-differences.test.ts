/**
 * Every leaf module's derivatives against central finite differences of its
 * own forward pass, and every loss against a direct JavaScript computation.
 */
import { describe, expect, it } from 'vitest';
import {
  Add,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Dropout,
  Flatten,
  Generator,
  Identity,
  MSELoss,
  Pad,
  Permute,
  ReLU,
  ScaleModule,
  Slicing,
  SumModule,
  ZeroPad2d,
  extend,
  type GraphNode,
  type Linear,
  type LeafModule,
  type LossModule,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { activations } from './helpers/activations.js';
import { expectClose } from './helpers/close.js';
import {
  elementwiseDerivative,
  matTimesJacobian,
  parameterJacobian,
  perSampleMatTimesJacobian,
  tensorJacobian,
} from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

/** Finite differences with h = 1e-6 are good to about 1e-9 here; 1e-7 leaves room for rounding only. */
const FD_RTOL = 1e-7;
/** Two closed-form computations of the same number agree to rounding. */
const EXACT_RTOL = 1e-12;

/** A module, its inputs, and which inputs derivatives flow into. */
interface Setup {
  readonly module: LeafModule;
  readonly inputs: Tensor[];
  /** The inputs gradients flow into (a loss's target does not get one). */
  readonly wrt: number[];
  /** Runs before every forward pass, e.g. reseeds dropout so each pass draws the same mask. */
  readonly beforeForward?: () => void;
}

interface Case {
  readonly name: string;
  readonly make: () => Setup;
}

/** Extends the module, runs the forward pass on inputs that require gradients, and returns the recorded node. */
function record(setup: Setup): { node: GraphNode; output: Tensor } {
  extend(setup.module);
  for (const i of setup.wrt) setup.inputs[i]!.requiresGrad_();
  const output = forwardWith(setup, 0, setup.inputs[0]!);
  expect(output.producer).toBeDefined();
  return { node: output.producer!, output };
}

/** The module's output with input `index` replaced by `x`. */
function forwardWith(setup: Setup, index: number, x: Tensor): Tensor {
  const inputs = [...setup.inputs];
  inputs[index] = x;
  setup.beforeForward?.();
  return setup.module.forward(...inputs);
}

/** Inputs of ReLU-like functions: entries at least 0.05 away from the kink at 0. */
const activationInput = (seed: number) => randomTensor([2, 3, 2], seed, { low: -2, high: 2, minAbs: 0.05 });

/** Random probabilities in (0, 1), targets of BCEWithLogitsLoss. */
const probabilities = (shape: number[], seed: number) => randomTensor(shape, seed, { low: 0.01, high: 0.99 });

function oneInput(module: LeafModule, x: Tensor): Setup {
  return { module, inputs: [x], wrt: [0] };
}

function lossSetup(module: LossModule, prediction: Tensor, target: Tensor): Setup {
  return { module, inputs: [prediction, target], wrt: [0] };
}

function dropoutInTraining(): Setup {
  const generator = new Generator(5);
  const module = new Dropout(0.4, generator);
  return { ...oneInput(module, randomTensor([4, 5], 1)), beforeForward: () => generator.manualSeed(11) };
}

const classTargets = (data: number[]) => t(data, [data.length], 'int32');

const reductions: Reduction[] = ['mean', 'sum', 'none'];

const linearCases: Case[] = [
  { name: 'Linear, input [N, in]', make: () => oneInput(linear(4, 3, 3, true), randomTensor([2, 4], 1)) },
  { name: 'Linear without bias, input [N, in]', make: () => oneInput(linear(4, 3, 3, false), randomTensor([2, 4], 1)) },
  { name: 'Linear, input [N, 3, in]', make: () => oneInput(linear(4, 3, 3, true), randomTensor([2, 3, 4], 1)) },
  { name: 'Linear without bias, input [N, 3, in]', make: () => oneInput(linear(4, 3, 3, false), randomTensor([2, 3, 4], 1)) },
];

const cases: Case[] = [
  ...linearCases,
  { name: 'Flatten()', make: () => oneInput(new Flatten(), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Flatten(2)', make: () => oneInput(new Flatten(2), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Flatten(1, 2)', make: () => oneInput(new Flatten(1, 2), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Flatten(-3, -2)', make: () => oneInput(new Flatten(-3, -2), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Identity', make: () => oneInput(new Identity(), randomTensor([2, 3], 1)) },
  { name: 'Dropout(0.4) in training mode', make: dropoutInTraining },
  { name: 'Dropout(0.4) in evaluation mode', make: () => oneInput(new Dropout(0.4).eval(), randomTensor([4, 5], 1)) },
  {
    name: 'Add, 2 inputs',
    make: () => ({ module: new Add(), inputs: [randomTensor([2, 3], 1), randomTensor([2, 3], 2)], wrt: [0, 1] }),
  },
  {
    name: 'Add, 3 inputs',
    make: () => ({
      module: new Add(),
      inputs: [randomTensor([2, 3], 1), randomTensor([2, 3], 2), randomTensor([2, 3], 3)],
      wrt: [0, 1, 2],
    }),
  },
  { name: 'Permute([0, 3, 1, 2])', make: () => oneInput(new Permute([0, 3, 1, 2]), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Permute([2, 1], initTranspose)', make: () => oneInput(new Permute([2, 1], { initTranspose: true }), randomTensor([2, 3, 2], 1)) },
  { name: 'Slicing[:, 1::2, 0:2]', make: () => oneInput(new Slicing([{}, { start: 1, step: 2 }, { start: 0, stop: 2 }]), randomTensor([2, 5, 3], 1)) },
  { name: 'Slicing[:, -1, ::3]', make: () => oneInput(new Slicing([{}, -1, { step: 3 }]), randomTensor([2, 2, 2, 5], 1)) },
  { name: 'Pad([1, 0, 0, 2, 1, 0], value 0.5)', make: () => oneInput(new Pad([1, 0, 0, 2, 1, 0], { value: 0.5 }), randomTensor([2, 2, 2, 2], 1)) },
  { name: 'Pad([-1, 2])', make: () => oneInput(new Pad([-1, 2]), randomTensor([2, 3, 3], 1)) },
  { name: 'ZeroPad2d([1, -1, 0, 2])', make: () => oneInput(new ZeroPad2d([1, -1, 0, 2]), randomTensor([2, 1, 2, 3], 1)) },
  { name: 'ScaleModule(-1.5)', make: () => oneInput(new ScaleModule(-1.5), randomTensor([2, 3], 1)) },
  {
    name: 'SumModule, 3 inputs',
    make: () => ({
      module: new SumModule(),
      inputs: [randomTensor([2, 3], 1), randomTensor([2, 3], 2), randomTensor([2, 3], 3)],
      wrt: [0, 1, 2],
    }),
  },
  ...activations.map(({ name, make }) => ({ name, make: () => oneInput(make(), activationInput(1)) })),
  ...reductions.flatMap((reduction): Case[] => [
    {
      name: `CrossEntropyLoss('${reduction}')`,
      make: () => lossSetup(new CrossEntropyLoss(reduction), randomTensor([3, 4], 1, { low: -2, high: 2 }), classTargets([2, 0, 3])),
    },
    {
      name: `CrossEntropyLoss('${reduction}'), [N, C, 2]`,
      make: () => lossSetup(new CrossEntropyLoss(reduction), randomTensor([2, 3, 2], 1, { low: -2, high: 2 }), t([2, 0, 1, 1], [2, 2], 'int32')),
    },
    {
      name: `MSELoss('${reduction}'), [N, 2]`,
      make: () => lossSetup(new MSELoss(reduction), randomTensor([3, 2], 1), randomTensor([3, 2], 2)),
    },
    {
      name: `MSELoss('${reduction}'), [N, 2, 3]`,
      make: () => lossSetup(new MSELoss(reduction), randomTensor([2, 2, 3], 1), randomTensor([2, 2, 3], 2)),
    },
    {
      name: `BCEWithLogitsLoss('${reduction}'), [N, 2]`,
      make: () => lossSetup(new BCEWithLogitsLoss(reduction), randomTensor([3, 2], 1, { low: -3, high: 3 }), probabilities([3, 2], 2)),
    },
    {
      name: `BCEWithLogitsLoss('${reduction}'), [N, 2, 3]`,
      make: () =>
        lossSetup(new BCEWithLogitsLoss(reduction), randomTensor([2, 2, 3], 1, { low: -3, high: 3 }), probabilities([2, 2, 3], 2)),
    },
  ]),
];

describe.each(cases)('$name', ({ make }) => {
  it.each([1, 3])('jacTMatProd matches finite differences of the forward pass (V = %i)', (v) => {
    const setup = make();
    const { node, output } = record(setup);
    expect(setup.module.differentiableInputs(node)).toEqual(setup.wrt);
    for (const i of setup.wrt) {
      const input = setup.inputs[i]!;
      const jacobian = tensorJacobian((x) => forwardWith(setup, i, x), input);
      const mat = randomTensor([v, ...output.shape], 100 + i);
      const result = setup.module.jacTMatProd(node, mat, i);
      expectClose(result, matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...input.shape]);
    }
  });
});

describe.each(linearCases)('$name: paramJacTMatProd', ({ make }) => {
  it.each([1, 3])('matches finite differences, summed over the batch and per sample (V = %i)', (v) => {
    const setup = make();
    const { node, output } = record(setup);
    const batch = output.shape[0]!;
    const hasBias = (setup.module as Linear).bias !== undefined;
    expect(setup.module.ownNamedParameters().map(([name]) => name)).toEqual(hasBias ? ['weight', 'bias'] : ['weight']);
    for (const [name, parameter] of setup.module.ownNamedParameters()) {
      const jacobian = parameterJacobian(parameter, () => forwardWith(setup, 0, setup.inputs[0]!));
      const mat = randomTensor([v, ...output.shape], 200);
      const shape = parameter.data.shape;
      const summed = setup.module.paramJacTMatProd(node, name, mat, { sumBatch: true });
      expectClose(summed, matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...shape]);
      const perSample = setup.module.paramJacTMatProd(node, name, mat, { sumBatch: false });
      expectClose(perSample, perSampleMatTimesJacobian(mat.toArray(), jacobian, batch), FD_RTOL, [v, batch, ...shape]);
    }
  });
});

describe('parameter-free modules', () => {
  it('refuse paramJacTMatProd, naming the module and the parameter', () => {
    const setup = oneInput(new ReLU(), activationInput(1));
    const { node, output } = record(setup);
    expect(() => setup.module.paramJacTMatProd(node, 'weight', randomTensor([1, ...output.shape], 1), { sumBatch: true })).toThrow(
      /ReLU has no parameter 'weight'/,
    );
  });
});

describe.each(activations)('$name: ElementwiseModule derivatives', ({ make }) => {
  it('df matches finite differences of f, d2f matches finite differences of df', () => {
    const module = make();
    const x = activationInput(4);
    const f = (z: Tensor) => module.forward(z);
    const df = (z: Tensor) => module.df(z, f(z));
    expectClose(module.df(x, f(x)), elementwiseDerivative(f, x), FD_RTOL, x.shape);
    expectClose(module.d2f(x, f(x)), elementwiseDerivative(df, x), FD_RTOL, x.shape);
  });
});

describe('Dropout in training mode', () => {
  it('multiplies by the mask saved on the node: zeros, and 1/(1-p) elsewhere', () => {
    const setup = dropoutInTraining();
    const { node, output } = record(setup);
    const mask = values(node.saved['mask']!);
    expect(new Set(mask)).toEqual(new Set([0, 1 / 0.6]));
    const x = values(setup.inputs[0]!);
    expectClose(output, x.map((xi, i) => xi * mask[i]!), EXACT_RTOL, [4, 5]);
  });

  it('draws its mask from its generator: the same seed gives the same mask', () => {
    const setup = dropoutInTraining();
    const first = record(setup).node.saved['mask']!;
    const second = record(setup).node.saved['mask']!;
    expect(values(second)).toEqual(values(first));
  });
});

/** Loss value and gradient w.r.t. the prediction, computed directly. */
interface ByHand {
  readonly loss: number;
  readonly gradient: number[];
  /** The unreduced losses (reduction `none`). */
  readonly perElement: number[];
}

/**
 * Softmax cross-entropy of `[N, C, L]` logits (L = `positions`, 1 for
 * `[N, C]`) with targets `[N, L]`, with a log-sum-exp shifted by the maximum
 * over the classes; `none` gives the losses per position.
 */
function crossEntropyByHand(logits: number[], classes: number, targets: number[], reduction: Reduction, positions = 1): ByHand {
  const n = targets.length / positions;
  const scale = reduction === 'mean' ? 1 / targets.length : 1;
  const at = (i: number, c: number, l: number) => logits[(i * classes + c) * positions + l]!;
  const perElement: number[] = [];
  const gradient = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < positions; l++) {
      const row = Array.from({ length: classes }, (_, c) => at(i, c, l));
      const top = Math.max(...row);
      const logSumExp = top + Math.log(row.reduce((s, z) => s + Math.exp(z - top), 0));
      const target = targets[i * positions + l]!;
      perElement.push(logSumExp - row[target]!);
      row.forEach((z, c) => (gradient[(i * classes + c) * positions + l] = (Math.exp(z - logSumExp) - (c === target ? 1 : 0)) * scale));
    }
  }
  return { loss: perElement.reduce((s, v) => s + v, 0) * scale, gradient, perElement };
}

function mseByHand(prediction: number[], target: number[], reduction: Reduction): ByHand {
  const scale = reduction === 'mean' ? 1 / prediction.length : 1;
  const residual = prediction.map((p, i) => p - target[i]!);
  return {
    loss: residual.reduce((s, r) => s + r * r, 0) * scale,
    gradient: residual.map((r) => 2 * r * scale),
    perElement: residual.map((r) => r * r),
  };
}

function bceWithLogitsByHand(logits: number[], target: number[], reduction: Reduction): ByHand {
  const scale = reduction === 'mean' ? 1 / logits.length : 1;
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  const perElement = logits.map((x, i) => -(target[i]! * Math.log(sigmoid(x)) + (1 - target[i]!) * Math.log(1 - sigmoid(x))));
  return {
    loss: perElement.reduce((s, v) => s + v, 0) * scale,
    gradient: logits.map((x, i) => (sigmoid(x) - target[i]!) * scale),
    perElement,
  };
}

/** Runs the loss and checks its value and `gradient(node)` against `byHand`. */
function expectLoss(module: LossModule, prediction: Tensor, target: Tensor, byHand: ByHand): void {
  extend(module);
  const loss = module.forward(prediction.requiresGrad_(), target);
  if (module.reduction === 'none') {
    expectClose(loss, byHand.perElement, EXACT_RTOL);
  } else {
    expect(loss.shape).toEqual([]);
    expectClose(loss, [byHand.loss], EXACT_RTOL);
  }
  expectClose(module.gradient(loss.producer!), byHand.gradient, EXACT_RTOL, prediction.shape);
}

describe.each(['mean', 'sum', 'none'] as const)("losses with reduction '%s': value and gradient against a direct computation", (reduction) => {
  it('CrossEntropyLoss', () => {
    const logits = randomTensor([3, 4], 5, { low: -3, high: 3 });
    const targets = [1, 3, 0];
    const byHand = crossEntropyByHand(values(logits), 4, targets, reduction);
    expectLoss(new CrossEntropyLoss(reduction), logits, classTargets(targets), byHand);
  });

  it('CrossEntropyLoss on [N, C, d1, d2] logits with [N, d1, d2] targets', () => {
    const logits = randomTensor([2, 3, 2, 2], 7, { low: -3, high: 3 });
    const targets = [2, 0, 1, 1, 0, 2, 2, 1];
    const byHand = crossEntropyByHand(values(logits), 3, targets, reduction, 4);
    expectLoss(new CrossEntropyLoss(reduction), logits, t(targets, [2, 2, 2], 'int32'), byHand);
  });

  it('CrossEntropyLoss with large logits stays finite and exact', () => {
    const data = randomNumbers(8, 6, -800, 800);
    const targets = [0, 1];
    const byHand = crossEntropyByHand(data, 4, targets, reduction);
    expect(Number.isFinite(byHand.loss)).toBe(true);
    expectLoss(new CrossEntropyLoss(reduction), t(data, [2, 4]), classTargets(targets), byHand);
  });

  it.each([[[3, 2]], [[2, 2, 3]]])('MSELoss, prediction %j', (shape) => {
    const [prediction, target] = [randomTensor(shape, 5), randomTensor(shape, 6)];
    expectLoss(new MSELoss(reduction), prediction, target, mseByHand(values(prediction), values(target), reduction));
  });

  it.each([[[3, 2]], [[2, 2, 3]]])('BCEWithLogitsLoss, prediction %j', (shape) => {
    const [logits, target] = [randomTensor(shape, 5, { low: -4, high: 4 }), probabilities(shape, 6)];
    const byHand = bceWithLogitsByHand(values(logits), values(target), reduction);
    expectLoss(new BCEWithLogitsLoss(reduction), logits, target, byHand);
  });
});
