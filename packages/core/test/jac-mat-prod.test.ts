/**
 * Every leaf module's forward Jacobian products (`jacMatProd`,
 * `paramJacMatProd`) against dense Jacobians built column by column by
 * central finite differences of the module's forward pass, and exactly
 * against the transposed products through `<u, J v> = <Jᵀ u, v>`.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  Add,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  BatchNorm1d,
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
  Embedding,
  Flatten,
  Generator,
  Identity,
  LSTM,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  MSELoss,
  Pad,
  Permute,
  ReduceTuple,
  RNN,
  ScaleModule,
  Slicing,
  SumModule,
  ZeroPad2d,
  LeafModule,
  extend,
  mul,
  noGrad,
  tensor,
  type GraphNode,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { activations } from './helpers/activations.js';
import { expectClose } from './helpers/close.js';
import { parameterJacobian, tensorJacobian, type Jacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t } from './helpers/tensors.js';

/** Central differences with h = 1e-6 are good to about 1e-9 here; 1e-7 leaves room for rounding only. */
const FD_RTOL = 1e-7;
/** Two exact computations of one number agree to rounding. */
const EXACT_RTOL = 1e-12;
const V = 3;

interface Setup {
  readonly module: LeafModule;
  readonly inputs: Tensor[];
  /** The inputs derivatives flow into. */
  readonly wrt: number[];
  /** Runs before every forward pass (reseeds Dropout, so each pass draws one mask). */
  readonly beforeForward?: () => void;
}

const g = (seed: number) => ({ backend: cpu, generator: new Generator(seed) });
const one = (module: LeafModule, x: Tensor): Setup => ({ module, inputs: [x], wrt: [0] });
const loss = (module: LeafModule, prediction: Tensor, target: Tensor): Setup => ({ module, inputs: [prediction, target], wrt: [0] });

function batchNorm<M extends BatchNorm1d | BatchNorm2d | BatchNorm3d>(module: M, evaluation: boolean): M {
  const c = module.numFeatures;
  module.loadStateDict({
    weight: randomTensor([c], 11, { low: 0.5, high: 2 }),
    bias: randomTensor([c], 12),
    running_mean: randomTensor([c], 13),
    running_var: randomTensor([c], 14, { low: 0.5, high: 2 }),
  });
  if (evaluation) module.eval();
  return module;
}

function dropout(): Setup {
  const generator = new Generator(0);
  return { ...one(new Dropout(0.3, generator), randomTensor([3, 4], 5)), beforeForward: () => generator.manualSeed(7) };
}

const reductions: Reduction[] = ['mean', 'sum', 'none'];

const cases: { name: string; make: () => Setup }[] = [
  { name: 'Linear', make: () => one(linear(3, 2, 1), randomTensor([4, 3], 1)) },
  { name: 'Linear without bias on [N, 2, in]', make: () => one(linear(3, 2, 1, false), randomTensor([2, 2, 3], 1)) },
  { name: 'Linear on [N, 2, in]', make: () => one(linear(3, 2, 1), randomTensor([2, 2, 3], 1)) },
  { name: 'Conv1d', make: () => one(new Conv1d(2, 2, 3, { padding: 1, ...g(1) }), randomTensor([2, 2, 5], 1)) },
  { name: 'Conv2d, stride 2, groups 2', make: () => one(new Conv2d(2, 4, 3, { stride: 2, padding: 1, groups: 2, ...g(2) }), randomTensor([2, 2, 4, 4], 1)) },
  { name: 'Conv3d without bias', make: () => one(new Conv3d(1, 2, 2, { bias: false, ...g(2) }), randomTensor([2, 1, 3, 2, 3], 1)) },
  { name: 'ConvTranspose1d, groups 2', make: () => one(new ConvTranspose1d(2, 4, 3, { groups: 2, stride: 2, ...g(3) }), randomTensor([2, 2, 3], 1)) },
  { name: 'ConvTranspose3d', make: () => one(new ConvTranspose3d(1, 2, 2, { stride: [1, 2, 1], ...g(3) }), randomTensor([2, 1, 2, 2, 2], 1)) },
  {
    name: 'ConvTranspose2d, outputPadding',
    make: () => one(new ConvTranspose2d(2, 2, 2, { stride: 2, outputPadding: 1, dilation: 2, ...g(3) }), randomTensor([2, 2, 2, 2], 1)),
  },
  ...activations.map(({ name, make }) => ({ name, make: () => one(make(), randomTensor([3, 4], 2, { minAbs: 0.05 })) })),
  { name: 'MaxPool2d', make: () => one(new MaxPool2d(2), randomTensor([2, 2, 4, 4], 3)) },
  { name: 'MaxPool1d, stride 1, padding 1, dilation 2', make: () => one(new MaxPool1d(3, { stride: 1, padding: 1, dilation: 2 }), randomTensor([2, 2, 6], 3)) },
  { name: 'MaxPool3d', make: () => one(new MaxPool3d(2), randomTensor([1, 2, 2, 4, 2], 3)) },
  { name: 'AvgPool3d', make: () => one(new AvgPool3d(2), randomTensor([1, 2, 2, 4, 2], 3)) },
  { name: 'AdaptiveAvgPool1d', make: () => one(new AdaptiveAvgPool1d(3), randomTensor([2, 2, 5], 3)) },
  { name: 'AdaptiveAvgPool3d', make: () => one(new AdaptiveAvgPool3d([1, 2, 2]), randomTensor([1, 2, 2, 3, 3], 3)) },
  { name: 'AvgPool1d, stride 1, padding', make: () => one(new AvgPool1d(3, { stride: 1, padding: 1, countIncludePad: false }), randomTensor([2, 2, 5], 3)) },
  { name: 'AvgPool2d', make: () => one(new AvgPool2d(2), randomTensor([2, 2, 4, 4], 3)) },
  { name: 'AdaptiveAvgPool2d', make: () => one(new AdaptiveAvgPool2d(3), randomTensor([2, 2, 4, 4], 3)) },
  { name: 'ZeroPad2d', make: () => one(new ZeroPad2d([1, -1, 0, 2]), randomTensor([2, 1, 2, 3], 3)) },
  { name: 'Pad with value', make: () => one(new Pad([1, 0, 0, 2, 1, 0], { value: 0.5 }), randomTensor([2, 2, 2, 2], 1)) },
  { name: 'Flatten', make: () => one(new Flatten(), randomTensor([2, 2, 3], 3)) },
  { name: 'Flatten(1, 2)', make: () => one(new Flatten(1, 2), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Identity', make: () => one(new Identity(), randomTensor([2, 3], 1)) },
  { name: 'ScaleModule', make: () => one(new ScaleModule(-1.5), randomTensor([2, 3], 1)) },
  { name: 'Permute', make: () => one(new Permute([0, 3, 1, 2]), randomTensor([2, 3, 2, 2], 1)) },
  { name: 'Slicing', make: () => one(new Slicing([{}, { start: 1, step: 2 }, { start: 0, stop: 2 }]), randomTensor([2, 5, 3], 1)) },
  { name: 'Add', make: () => ({ module: new Add(), inputs: [randomTensor([2, 3], 1), randomTensor([2, 3], 2)], wrt: [0, 1] }) },
  {
    name: 'SumModule, 3 inputs',
    make: () => ({ module: new SumModule(), inputs: [randomTensor([2, 3], 1), randomTensor([2, 3], 2), randomTensor([2, 3], 3)], wrt: [0, 1, 2] }),
  },
  { name: 'BatchNorm1d (evaluation)', make: () => one(batchNorm(new BatchNorm1d(3, { backend: cpu }), true), randomTensor([4, 3], 4)) },
  { name: 'BatchNorm1d (training)', make: () => one(batchNorm(new BatchNorm1d(3, { backend: cpu }), false), randomTensor([4, 3], 4)) },
  { name: 'BatchNorm2d (evaluation)', make: () => one(batchNorm(new BatchNorm2d(2, { backend: cpu }), true), randomTensor([2, 2, 3, 3], 4)) },
  { name: 'BatchNorm2d (training)', make: () => one(batchNorm(new BatchNorm2d(2, { backend: cpu }), false), randomTensor([2, 2, 3, 3], 4)) },
  { name: 'BatchNorm3d (training)', make: () => one(batchNorm(new BatchNorm3d(2, { backend: cpu }), false), randomTensor([2, 2, 2, 2, 2], 4)) },
  { name: 'Dropout (training)', make: dropout },
  { name: 'Dropout (evaluation)', make: () => one(new Dropout(0.4).eval(), randomTensor([4, 5], 1)) },
  { name: 'Embedding', make: () => ({ module: new Embedding(5, 3, g(6)), inputs: [tensor([1, 4, 0, 4], [2, 2], { backend: cpu, dtype: 'int32' })], wrt: [] }) },
  { name: 'RNN (tanh, 2 layers, batch-first)', make: () => one(new RNN(3, 2, { numLayers: 2, batchFirst: true, ...g(12) }), randomTensor([2, 3, 3], 12)) },
  { name: 'RNN (relu)', make: () => one(new RNN(2, 3, { nonlinearity: 'relu', ...g(14) }), randomTensor([3, 2, 2], 14)) },
  { name: 'LSTM (time-major)', make: () => one(new LSTM(2, 2, g(13)), randomTensor([3, 2, 2], 13)) },
  ...reductions.flatMap((reduction) => [
    {
      name: `CrossEntropyLoss('${reduction}')`,
      make: () => loss(new CrossEntropyLoss(reduction), randomTensor([3, 4], 7, { low: -2, high: 2 }), t([2, 0, 3], [3], 'int32')),
    },
    {
      name: `CrossEntropyLoss('${reduction}'), [N, C, 2]`,
      make: () => loss(new CrossEntropyLoss(reduction), randomTensor([2, 3, 2], 1, { low: -2, high: 2 }), t([2, 0, 1, 1], [2, 2], 'int32')),
    },
    { name: `MSELoss('${reduction}')`, make: () => loss(new MSELoss(reduction), randomTensor([3, 2], 8), randomTensor([3, 2], 9)) },
    {
      name: `BCEWithLogitsLoss('${reduction}')`,
      make: () => loss(new BCEWithLogitsLoss(reduction), randomTensor([3, 2], 10, { low: -3, high: 3 }), randomTensor([3, 2], 11, { low: 0.01, high: 0.99 })),
    },
  ]),
];

function forwardWith(setup: Setup, index: number, x: Tensor): Tensor {
  const inputs = [...setup.inputs];
  inputs[index] = x;
  setup.beforeForward?.();
  return setup.module.forward(...inputs);
}

function record(setup: Setup): { node: GraphNode; output: Tensor } {
  extend(setup.module);
  for (const i of setup.wrt) setup.inputs[i]!.requiresGrad_();
  const output = forwardWith(setup, 0, setup.inputs[0]!);
  expect(output.producer).toBeDefined();
  return { node: output.producer!, output };
}

/** `J m_v` for each of the V rows of `mat` (flattened to the Jacobian's columns). */
function jacobianTimes(jacobian: Jacobian, mat: Tensor): Float64Array {
  const { rows, cols, data } = jacobian;
  const m = mat.toArray();
  const v = m.length / cols;
  const out = new Float64Array(v * rows);
  for (let k = 0; k < v; k++) {
    for (let i = 0; i < rows; i++) {
      let total = 0;
      for (let j = 0; j < cols; j++) total += data[i * cols + j]! * m[k * cols + j]!;
      out[k * rows + i] = total;
    }
  }
  return out;
}

function dot(a: Tensor, b: Tensor): number {
  const [x, y] = [a.toArray(), b.toArray()];
  expect(x.length).toBe(y.length);
  let total = 0;
  for (let i = 0; i < x.length; i++) total += x[i]! * y[i]!;
  return total;
}

describe.each(cases)('$name', ({ make }) => {
  it('jacMatProd: finite differences of the forward, and the adjoint of jacTMatProd', () => {
    const setup = make();
    const { node, output } = record(setup);
    for (const i of setup.wrt) {
      const input = setup.inputs[i]!;
      const mat = randomTensor([V, ...input.shape], 100 + i);
      const product = setup.module.jacMatProd(node, mat, i);
      const jacobian = tensorJacobian((x) => forwardWith(setup, i, x), input);
      expectClose(product, jacobianTimes(jacobian, mat), FD_RTOL, [V, ...output.shape]);
      const u = randomTensor([V, ...output.shape], 200 + i);
      const adjoint = setup.module.jacTMatProd(node, u, i);
      expectClose([dot(u, product)], [dot(adjoint, mat)], EXACT_RTOL);
    }
  });

  it('paramJacMatProd: finite differences of the forward, and the adjoint of paramJacTMatProd', () => {
    const setup = make();
    const { node, output } = record(setup);
    for (const [name, parameter] of setup.module.ownTrainableParameters()) {
      const mat = randomTensor([V, ...parameter.data.shape], 300);
      const product = setup.module.paramJacMatProd(node, name, mat);
      const jacobian = parameterJacobian(parameter, () => forwardWith(setup, 0, setup.inputs[0]!));
      expectClose(product, jacobianTimes(jacobian, mat), FD_RTOL, [V, ...output.shape]);
      const u = randomTensor([V, ...output.shape], 400);
      const adjoint = setup.module.paramJacTMatProd(node, name, u, { sumBatch: true });
      expectClose([dot(u, product)], [dot(adjoint, mat)], EXACT_RTOL);
    }
  });
});

describe('ReduceTuple (the output of a recurrent layer)', () => {
  it('jacMatProd is the identity, the adjoint of jacTMatProd', () => {
    const rnn = new RNN(2, 3, g(1));
    const reduce: LeafModule = new ReduceTuple();
    extend(reduce);
    const output = reduce.forward(rnn.forward(randomTensor([3, 2, 2], 1).requiresGrad_()));
    const node = output.producer!;
    const mat = randomTensor([V, ...output.shape], 2);
    expect(Array.from(reduce.jacMatProd(node, mat, 0).toArray())).toEqual(Array.from(mat.toArray()));
    const u = randomTensor([V, ...output.shape], 3);
    expectClose([dot(u, reduce.jacMatProd(node, mat, 0))], [dot(reduce.jacTMatProd(node, u, 0), mat)], EXACT_RTOL);
  });
});

/** A module whose forward runs unrecorded (as a backend kernel would): the default cannot follow it. */
class Unrecorded extends LeafModule {
  readonly typeName = 'Unrecorded';
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return noGrad(() => mul(inputs[0]!, 2));
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, 2);
  }
}

describe('jacMatProd errors', () => {
  it('the default refuses a module whose compute() records nothing, naming it', () => {
    const setup = one(new Unrecorded(), randomTensor([2, 3], 1));
    const { node } = record(setup);
    expect(() => setup.module.jacMatProd(node, randomTensor([1, 2, 3], 1), 0)).toThrow(
      /Unrecorded: compute\(\) ran without recording its ops, so the default forward Jacobian product cannot follow them; override jacMatProd/,
    );
  });

  it('refuses a matrix of the wrong shape, naming the module', () => {
    const setup = one(new RNN(2, 3, g(1)), randomTensor([3, 2, 2], 1));
    const { node } = record(setup);
    expect(() => setup.module.jacMatProd(node, randomTensor([2, 3, 2, 3], 1), 0)).toThrow(/RNN.*forward Jacobian product of a matrix of shape \[2, 3, 2, 3\]; expected \[V, 3, 2, 2\]/);
  });

  it('refuses an unknown parameter, naming it', () => {
    const setup = one(new RNN(2, 3, g(1)), randomTensor([3, 2, 2], 1));
    const { node } = record(setup);
    expect(() => setup.module.paramJacMatProd(node, 'nope', randomTensor([1, 2], 1))).toThrow(/RNN.* has no trainable parameter 'nope'/);
  });
});
