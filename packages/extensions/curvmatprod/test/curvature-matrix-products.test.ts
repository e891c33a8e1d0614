/**
 * HMP, GGNMP and PCHMP against dense matrices built column by column in the
 * test: the block Hessian by double backward, the GGN block as `Jᵀ H_loss J`
 * from dense Jacobians, the positive-curvature Hessian by its recursion with
 * every residual term eigendecomposed (dense, by Jacobi rotations) and its
 * eigenvalues clipped or made absolute (both in one pass, the abs ones
 * under the savefield `pchmpAbs`); and against DiagHessian, DiagGGNExact
 * and SqrtGGNExact.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  AvgPool2d,
  BatchNorm1d,
  Conv2d,
  CrossEntropyLoss,
  ELU,
  Flatten,
  Generator,
  LeakyReLU,
  Linear,
  LogSigmoid,
  MaxPool2d,
  MSELoss,
  ReLU,
  SELU,
  Sequential,
  Sigmoid,
  Tanh,
  backpack,
  extend,
  reshape,
  tensor,
  type LeafModule,
  type LossModule,
  type ProductQuantity,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { DiagGGNExact, SqrtGGNExact } from '@backpack-ts/diag-ggn';
import { GGNMP, HMP, PCHMP } from '../src/index.js';
import {
  denseHessian,
  denseJacobian,
  densePositiveCurvature,
  expectDenseClose,
  identityLike,
  matmul,
  rowsOf,
  sandwich,
  transpose,
} from './helpers/dense-curvature.js';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** The abs products of the PCHMP that runs next to the clip one (savefield 'pchmpAbs'). */
    pchmpAbs?: ProductQuantity;
  }
}

const RTOL = 1e-10;

const g = (seed: number) => ({ backend: cpu, generator: new Generator(seed) });

function random(shape: number[], seed: number, low = -1, high = 1): Tensor {
  return new Generator(seed).uniform(shape, { low, high, backend: cpu, dtype: 'float64' });
}

function evalBatchNorm(features: number): BatchNorm1d {
  const module = new BatchNorm1d(features, { backend: cpu });
  module.loadStateDict({
    weight: random([features], 11, 0.5, 2),
    bias: random([features], 12),
    running_mean: random([features], 13),
    running_var: random([features], 14, 0.5, 2),
  });
  return module.eval();
}

interface Network {
  readonly name: string;
  /** The modules of the sequence, fresh. */
  readonly layers: () => LeafModule[];
  readonly input: () => Tensor;
  /** Outputs per sample (classes). */
  readonly outputs: number;
}

const activations: [string, () => LeafModule][] = [
  ['Sigmoid', () => new Sigmoid()],
  ['Tanh', () => new Tanh()],
  ['ReLU', () => new ReLU()],
  ['ELU', () => new ELU(0.8)],
  ['SELU', () => new SELU()],
  ['LeakyReLU', () => new LeakyReLU(0.1)],
  ['LogSigmoid', () => new LogSigmoid()],
];

const networks: Network[] = [
  ...activations.map(([name, activation]) => ({
    name: `Linear, ${name}, Linear`,
    layers: () => [new Linear(3, 4, g(1)), activation(), new Linear(4, 3, g(2))],
    input: () => random([3, 3], 3, -2, 2),
    outputs: 3,
  })),
  {
    name: 'Conv2d, Sigmoid, MaxPool2d, Flatten, Linear',
    layers: () => [new Conv2d(1, 2, 3, { padding: 1, ...g(4) }), new Sigmoid(), new MaxPool2d(2), new Flatten(), new Linear(8, 3, g(5))],
    input: () => random([2, 1, 4, 4], 6),
    outputs: 3,
  },
  {
    name: 'Conv2d, Tanh, AvgPool2d, Flatten, Linear',
    layers: () => [new Conv2d(2, 2, 2, g(7)), new Tanh(), new AvgPool2d(2), new Flatten(), new Linear(8, 2, g(8))],
    input: () => random([2, 2, 5, 5], 9),
    outputs: 2,
  },
  {
    name: 'Linear, BatchNorm1d (evaluation), ELU, Linear',
    layers: () => [new Linear(3, 4, g(10)), evalBatchNorm(4), new ELU(), new Linear(4, 3, g(11))],
    input: () => random([3, 3], 12, -2, 2),
    outputs: 3,
  },
];

interface LossCase {
  readonly name: string;
  readonly make: (reduction: Reduction) => LossModule;
  readonly target: (n: number, outputs: number) => Tensor;
}

const losses: LossCase[] = [
  {
    name: 'CrossEntropyLoss',
    make: (reduction) => new CrossEntropyLoss(reduction),
    target: (n, outputs) => tensor(Array.from({ length: n }, (_, i) => (2 * i + 1) % outputs), [n], { backend: cpu, dtype: 'int32' }),
  },
  { name: 'MSELoss', make: (reduction) => new MSELoss(reduction), target: (n, outputs) => random([n, outputs], 20) },
];

/** The layers, their parameters and the loss, with every intermediate tensor of one forward pass. */
function run(network: Network, lossCase: LossCase, reduction: Reduction) {
  const layers = network.layers();
  const model = extend(new Sequential(...layers));
  const lossModule = lossCase.make(reduction);
  const x = network.input();
  const target = lossCase.target(x.shape[0]!, network.outputs);
  const forward = () => {
    const z = [x];
    for (const layer of layers) z.push(layer.forward(z[z.length - 1]!));
    return { z, loss: lossModule.forward(z[z.length - 1]!, target) };
  };
  return { layers, model, forward };
}

describe.each(networks)('$name', (network) => {
  describe.each(losses.flatMap((lossCase) => (['mean', 'sum'] as const).map((reduction) => ({ lossCase, reduction, name: `${lossCase.name}('${reduction}')` }))))(
    '$name',
    ({ lossCase, reduction }) => {
      it('HMP is the block Hessian, GGNMP the GGN block, PCHMP the positive-curvature Hessian; diagonals match DiagHessian and DiagGGNExact', () => {
        const { layers, model, forward } = run(network, lossCase, reduction);
        const parameters = model.parameters();

        // Dense references from a forward pass of their own.
        const reference = forward();
        reference.z[0]!.requiresGrad_();
        const prediction = reference.z[layers.length]!;
        const lossHessian = denseHessian(reference.loss, prediction);
        const hessian = new Map(parameters.map((p) => [p, denseHessian(reference.loss, p.data)]));
        const ggn = new Map(parameters.map((p) => [p, sandwich(denseJacobian(prediction, p.data), lossHessian)]));
        const clipped = densePositiveCurvature(layers, reference.z, reference.loss, (lambda) => Math.max(lambda, 0));
        const absolute = densePositiveCurvature(layers, reference.z, reference.loss, Math.abs);

        const { loss } = forward();
        const absInSamePass = new PCHMP({ modify: 'abs', savefield: 'pchmpAbs' });
        backpack([new HMP(), new GGNMP(), new PCHMP(), absInSamePass, new DiagHessian(), new DiagGGNExact(), new SqrtGGNExact()], () => loss.backward());
        for (const p of parameters) {
          const identity = identityLike(p.data);
          const hmp = rowsOf(p.hmp!(identity));
          const ggnmp = rowsOf(p.ggnmp!(identity));
          expectDenseClose(hmp, hessian.get(p)!, RTOL, 'HMP');
          expectDenseClose(ggnmp, ggn.get(p)!, RTOL, 'GGNMP');
          expectDenseClose(rowsOf(p.pchmp!(identity)), clipped.get(p)!, RTOL, "PCHMP('clip')");
          expectDenseClose(rowsOf(p.pchmpAbs!(identity)), absolute.get(p)!, RTOL, "PCHMP('abs') next to 'clip' in one pass");
          expectDenseClose(
            hmp.map((row, i) => row[i]!),
            Array.from(p.diagH!.toArray()),
            RTOL,
            'HMP diagonal vs DiagHessian',
          );
          expectDenseClose(
            ggnmp.map((row, i) => row[i]!),
            Array.from(p.diagGgnExact!.toArray()),
            RTOL,
            'GGNMP diagonal vs DiagGGNExact',
          );
          const sqrt = rowsOf(reshape(p.sqrtGgnExact!, [-1, p.data.size]));
          expectDenseClose(ggnmp, matmul(transpose(sqrt), sqrt), RTOL, 'GGNMP vs SqrtGGNExact outer product');
        }

        // A pass of its own gives the same abs products as the shared pass (whose fields it leaves alone).
        const onePass = new Map(parameters.map((p) => [p, rowsOf(p.pchmpAbs!(identityLike(p.data)))]));
        const again = forward();
        backpack([new PCHMP({ modify: 'abs' })], () => again.loss.backward());
        for (const p of parameters) {
          const separate = rowsOf(p.pchmp!(identityLike(p.data)));
          expectDenseClose(separate, absolute.get(p)!, RTOL, "PCHMP('abs')");
          expectDenseClose(separate, onePass.get(p)!, RTOL, "PCHMP('abs') alone vs next to 'clip'");
        }
      });
    },
  );
});

describe('products with several matrices at once', () => {
  it('a batch of V matrices gives each one its product (the rows of the block times each matrix)', () => {
    const { layers, forward } = run(networks[0]!, losses[0]!, 'mean');
    const { loss } = forward();
    backpack([new HMP()], () => loss.backward());
    const weight = layers[0]!.ownTrainableParameters()[0]![1];
    const block = rowsOf(weight.hmp!(identityLike(weight.data)));
    const mat = random([2, ...weight.data.shape], 30);
    expectDenseClose(rowsOf(weight.hmp!(mat)), transpose(block.map((row) => rowsOf(mat).map((m) => row.reduce((t, b, k) => t + b * m[k]!, 0)))), RTOL, 'HMP on V = 2');
  });
});
