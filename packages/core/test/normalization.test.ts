/**
 * BatchNorm1d/2d/3d: forward in both modes against a direct computation,
 * running statistics against PyTorch's update rule, derivatives against
 * central finite differences (the full batch Jacobian in training mode),
 * `.grad` through the backward engine in training mode, and the refusal of
 * per-sample quantities in training mode.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  BatchNorm1d as BatchNorm1dOn,
  BatchNorm2d as BatchNorm2dOn,
  BatchNorm3d as BatchNorm3dOn,
  CrossEntropyLoss,
  Flatten,
  LeafModule,
  MSELoss,
  Sequential,
  Tanh,
  extend,
  tidy,
  type BatchNormNd,
  type BatchNormOptions,
  type LossModule,
  type Module,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { matTimesJacobian, parameterJacobian, perSampleMatTimesJacobian, tensorJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { indices, randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

/** The modules on cpu in float64 (the tests' tensors). */
class BatchNorm1d extends BatchNorm1dOn {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, { backend: cpu, ...options });
  }
}
class BatchNorm2d extends BatchNorm2dOn {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, { backend: cpu, ...options });
  }
}
class BatchNorm3d extends BatchNorm3dOn {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, { backend: cpu, ...options });
  }
}

const FD_RTOL = 1e-7;
const EXACT_RTOL = 1e-12;

/** Per-channel statistics over every dimension but 1, written out. */
function channelStatistics(x: Tensor): { mean: number[]; biasedVar: number[]; unbiasedVar: number[]; count: number } {
  const xs = values(x);
  const channels = x.shape[1]!;
  const groups: number[][] = Array.from({ length: channels }, () => []);
  [...indices(x.shape)].forEach((index, flat) => groups[index[1]!]!.push(xs[flat]!));
  const mean = groups.map((g) => g.reduce((a, v) => a + v, 0) / g.length);
  const squares = groups.map((g, c) => g.reduce((a, v) => a + (v - mean[c]!) ** 2, 0));
  const count = groups[0]!.length;
  return { mean, biasedVar: squares.map((s) => s / count), unbiasedVar: squares.map((s) => s / (count - 1)), count };
}

/** `(x - mean) / sqrt(var + eps) * weight + bias` per channel, written out. */
function normalizeByHand(x: Tensor, mean: number[], variance: number[], weight: number[], bias: number[], eps: number): number[] {
  return [...indices(x.shape)].map((index, flat) => {
    const c = index[1]!;
    return ((values(x)[flat]! - mean[c]!) / Math.sqrt(variance[c]! + eps)) * weight[c]! + bias[c]!;
  });
}

interface Shaped {
  readonly name: string;
  readonly make: (options?: BatchNormOptions) => BatchNormNd;
  readonly input: number[];
}

const shapes: Shaped[] = [
  { name: 'BatchNorm1d, [N, C]', make: (o) => new BatchNorm1d(4, o), input: [3, 4] },
  { name: 'BatchNorm1d, [N, C, L]', make: (o) => new BatchNorm1d(3, o), input: [2, 3, 4] },
  { name: 'BatchNorm2d', make: (o) => new BatchNorm2d(2, o), input: [2, 2, 3, 3] },
  { name: 'BatchNorm3d', make: (o) => new BatchNorm3d(2, o), input: [2, 2, 2, 3, 2] },
];

/** A module with random weight, bias and running statistics (loaded with PyTorch's names). */
function randomized(shaped: Shaped, options: BatchNormOptions = {}): BatchNormNd {
  const module = shaped.make(options);
  const c = module.numFeatures;
  module.loadStateDict({
    ...(module.affine ? { weight: randomTensor([c], 11, { low: 0.5, high: 2 }), bias: randomTensor([c], 12) } : {}),
    running_mean: randomTensor([c], 13),
    running_var: randomTensor([c], 14, { low: 0.5, high: 2 }),
  });
  return module;
}

describe.each(shapes)('$name: forward', (shaped) => {
  it.each([true, false])('training mode normalises with the batch statistics (affine = %s)', (affine) => {
    const module = randomized(shaped, { affine, eps: 1e-3 });
    const x = randomTensor(shaped.input, 1, { low: -2, high: 3 });
    const c = module.numFeatures;
    const [w, b] = affine ? [values(module.weight!.data), values(module.bias!.data)] : [new Array(c).fill(1), new Array(c).fill(0)];
    const { mean, biasedVar } = channelStatistics(x);
    expectClose(module.forward(x), normalizeByHand(x, mean, biasedVar, w, b, 1e-3), EXACT_RTOL, x.shape);
  });

  it('evaluation mode normalises with the running statistics', () => {
    const module = randomized(shaped).eval();
    const x = randomTensor(shaped.input, 1);
    const [w, b] = [values(module.weight!.data), values(module.bias!.data)];
    const [mean, variance] = [values(module.buffer('running_mean')), values(module.buffer('running_var'))];
    expectClose(module.forward(x), normalizeByHand(x, mean, variance, w, b, 1e-5), EXACT_RTOL, x.shape);
    // Evaluation leaves the running statistics alone.
    expect(values(module.buffer('running_mean'))).toEqual(mean);
  });
});

describe('BatchNorm running statistics', () => {
  it("follow PyTorch's update: (1 - momentum) running + momentum batch, with the unbiased variance", () => {
    const module = new BatchNorm2d(2, { momentum: 0.3 });
    expect(module.namedBuffers().map(([name]) => name)).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    expect([values(module.buffer('running_mean')), values(module.buffer('running_var'))]).toEqual([[0, 0], [1, 1]]);
    const [x1, x2] = [randomTensor([3, 2, 2, 3], 1, { low: -1, high: 3 }), randomTensor([2, 2, 3, 2], 2, { low: -2, high: 1 })];
    const [s1, s2] = [channelStatistics(x1), channelStatistics(x2)];
    module.forward(x1);
    module.forward(x2);
    const m = 0.3;
    expectClose(module.buffer('running_mean'), [0, 1].map((c) => (1 - m) * ((1 - m) * 0 + m * s1.mean[c]!) + m * s2.mean[c]!), EXACT_RTOL, [2]);
    expectClose(
      module.buffer('running_var'),
      [0, 1].map((c) => (1 - m) * ((1 - m) * 1 + m * s1.unbiasedVar[c]!) + m * s2.unbiasedVar[c]!),
      EXACT_RTOL,
      [2],
    );
    expect(module.buffer('num_batches_tracked').dtype).toBe('int32');
    expect(module.buffer('num_batches_tracked').item()).toBe(2);
  });

  it('with momentum null, average all batches equally (cumulative moving average)', () => {
    const module = new BatchNorm1d(3, { momentum: null });
    const batches = [1, 2, 3].map((seed) => randomTensor([4, 3], seed, { low: -1, high: 2 }));
    for (const x of batches) module.forward(x);
    const stats = batches.map(channelStatistics);
    const average = (f: (s: (typeof stats)[number]) => number[]) => [0, 1, 2].map((c) => stats.reduce((a, s) => a + f(s)[c]!, 0) / 3);
    expectClose(module.buffer('running_mean'), average((s) => s.mean), EXACT_RTOL, [3]);
    expectClose(module.buffer('running_var'), average((s) => s.unbiasedVar), EXACT_RTOL, [3]);
    expect(module.buffer('num_batches_tracked').item()).toBe(3);
  });

  it('survive a tidy scope; replaced statistics the module created are disposed, loaded ones are not', () => {
    const module = new BatchNorm1d(2);
    const created = module.buffer('running_mean');
    const loaded = randomTensor([2], 3);
    tidy(() => {
      module.forward(randomTensor([4, 2], 1));
    });
    expect(module.buffer('running_mean').isDisposed).toBe(false);
    expect(created.isDisposed).toBe(true);
    module.loadStateDict({ running_mean: loaded });
    module.forward(randomTensor([4, 2], 2));
    expect(loaded.isDisposed).toBe(false);
    expect(values(loaded)).toHaveLength(2);
  });

  it('load from a PyTorch state dict (weight, bias, running_mean, running_var, num_batches_tracked)', () => {
    const module = new BatchNorm2d(3);
    const state = {
      weight: randomTensor([3], 1),
      bias: randomTensor([3], 2),
      running_mean: randomTensor([3], 3),
      running_var: randomTensor([3], 4, { low: 0.5, high: 1 }),
      num_batches_tracked: t([7], [], 'int32'),
    };
    module.loadStateDict(state);
    expect(module.weight!.data).toBe(state.weight);
    expect(module.buffer('running_var')).toBe(state.running_var);
    expect(module.buffer('num_batches_tracked').item()).toBe(7);
    expect(new BatchNorm2d(3, { affine: false }).namedParameters()).toEqual([]);
  });
});

describe.each(shapes)('$name: derivatives against finite differences', (shaped) => {
  describe.each([
    ['training', true],
    ['evaluation', false],
  ] as const)('%s mode', (_, training) => {
    function recorded(affine = true) {
      const module = extend(randomized(shaped, { affine }).train(training));
      const x = randomTensor(shaped.input, 1, { low: -2, high: 2 }).requiresGrad_();
      const output = module.forward(x);
      return { module, x, output, node: output.producer! };
    }

    it.each([1, 3])('jacTMatProd (V = %i)', (v) => {
      for (const affine of [true, false]) {
        const { module, x, output, node } = recorded(affine);
        const jacobian = tensorJacobian((z) => module.forward(z), x);
        const mat = randomTensor([v, ...output.shape], 100 + v);
        expectClose(module.jacTMatProd(node, mat, 0), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...x.shape]);
      }
    });

    it.each([1, 3])('paramJacTMatProd, summed and per sample (V = %i)', (v) => {
      const { module, x, output, node } = recorded();
      const batch = x.shape[0]!;
      expect(module.ownNamedParameters().map(([name]) => name)).toEqual(['weight', 'bias']);
      for (const [name, parameter] of module.ownNamedParameters()) {
        const jacobian = parameterJacobian(parameter, () => module.forward(x));
        const mat = randomTensor([v, ...output.shape], 200 + v);
        const summed = module.paramJacTMatProd(node, name, mat, { sumBatch: true });
        expectClose(summed, matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...parameter.data.shape]);
        if (training) {
          expect(() => module.paramJacTMatProd(node, name, mat, { sumBatch: false })).toThrow(
            new RegExp(`${shaped.name.split(',')[0]} is in training mode: .*per-sample quantities .* are undefined.*'${name}'`),
          );
        } else {
          const perSample = module.paramJacTMatProd(node, name, mat, { sumBatch: false });
          expectClose(perSample, perSampleMatTimesJacobian(mat.toArray(), jacobian, batch), FD_RTOL, [v, batch, ...parameter.data.shape]);
        }
      }
    });
  });
});

describe('BatchNorm per-sample definedness', () => {
  it('sampleMixingMessage names the module in training mode and is undefined in evaluation mode', () => {
    const model = extend(new Sequential(linear(3, 4, 1), new BatchNorm1d(4)));
    const node = model.forward(randomTensor([5, 3], 1)).producer!;
    const batchNorm = node.module;
    expect(batchNorm.sampleMixingMessage(node)).toMatch(/^BatchNorm1d '1' is in training mode: .*batch.*eval\(\)/);
    model.eval();
    expect(batchNorm.sampleMixingMessage(model.forward(randomTensor([5, 3], 1)).producer!)).toBeUndefined();
    // Other modules: defined by default.
    const linearNode = node.inputs[0]!.producer!;
    expect(linearNode.module.sampleMixingMessage(linearNode)).toBeUndefined();
  });

  it('the mode of the forward pass counts, not the current mode', () => {
    const module = extend(new BatchNorm1d(2));
    const node = module.forward(randomTensor([4, 2], 1)).producer!;
    module.eval();
    expect(module.sampleMixingMessage(node)).toMatch(/training mode/);
    expect(() => module.paramJacTMatProd(node, 'bias', randomTensor([1, 4, 2], 2), { sumBatch: false })).toThrow(/training mode/);
  });

  it('eaJacTMatJacProd: M ⊙ s sᵀ in evaluation mode (as the generic product), refused in training mode', () => {
    for (const shaped of shapes) {
      const module = extend(randomized(shaped).eval());
      const node = module.forward(randomTensor(shaped.input, 1)).producer!;
      const d = shaped.input.slice(1).reduce((a, b) => a * b, 1);
      const r = randomNumbers(d * d, 3);
      const symmetric = t(Array.from({ length: d * d }, (_, k) => r[k]! + r[(k % d) * d + Math.floor(k / d)]!), [d, d]);
      const generic = LeafModule.prototype.eaJacTMatJacProd.call(module, node, symmetric);
      expectClose(module.eaJacTMatJacProd(node, symmetric), values(generic), EXACT_RTOL, [d, d]);
      expect(module.residualHessianDiagonal(node, randomTensor(shaped.input, 2))).toBeUndefined();
      const trainingNode = extend(randomized(shaped)).forward(randomTensor(shaped.input, 1).requiresGrad_()).producer!;
      expect(() => trainingNode.module.eaJacTMatJacProd(trainingNode, symmetric)).toThrow(/training mode/);
      expect(() => trainingNode.module.residualHessianDiagonal(trainingNode, randomTensor(shaped.input, 2))).toThrow(/training mode/);
    }
  });
});

describe('BatchNorm in training mode: .grad from loss.backward() matches finite differences of the loss', () => {
  interface Problem {
    readonly model: Module;
    readonly lossFunction: LossModule;
    readonly input: Tensor;
    readonly target: Tensor;
  }

  const lossOf = ({ model, lossFunction, input, target }: Problem) => lossFunction.forward(model.forward(input), target);

  function randomizedBatchNorm<M extends BatchNormNd>(module: M, seed: number): M {
    const c = module.numFeatures;
    module.loadStateDict({ weight: randomTensor([c], seed, { low: 0.5, high: 2 }), bias: randomTensor([c], seed + 1) });
    return module;
  }

  const problems: { name: string; make: () => Problem }[] = [
    {
      name: 'Linear, BatchNorm1d [N, C], Tanh, Linear with MSELoss',
      make: () => ({
        model: extend(new Sequential(linear(3, 4, 1), randomizedBatchNorm(new BatchNorm1d(4), 5), new Tanh(), linear(4, 2, 2))),
        lossFunction: extend(new MSELoss()),
        input: randomTensor([6, 3], 1),
        target: randomTensor([6, 2], 2),
      }),
    },
    {
      name: 'Linear on [N, 3, 4], BatchNorm1d [N, C, L], Flatten, Linear with CrossEntropyLoss',
      make: () => ({
        model: extend(new Sequential(linear(4, 5, 1), randomizedBatchNorm(new BatchNorm1d(3), 5), new Flatten(), linear(15, 3, 2))),
        lossFunction: extend(new CrossEntropyLoss()),
        input: randomTensor([4, 3, 4], 1),
        target: t([0, 2, 1, 2], [4], 'int32'),
      }),
    },
    {
      name: 'Linear on [N, 2, 3, 4], BatchNorm2d, Tanh, Flatten, Linear with CrossEntropyLoss',
      make: () => ({
        model: extend(
          new Sequential(linear(4, 3, 1), randomizedBatchNorm(new BatchNorm2d(2), 5), new Tanh(), new Flatten(), linear(18, 3, 2)),
        ),
        lossFunction: extend(new CrossEntropyLoss()),
        input: randomTensor([3, 2, 3, 4], 1),
        target: t([1, 0, 2], [3], 'int32'),
      }),
    },
    {
      name: 'Linear on [N, 2, 2, 3, 4], BatchNorm3d, Flatten, Linear with MSELoss (sum)',
      make: () => ({
        model: extend(new Sequential(linear(4, 2, 1), randomizedBatchNorm(new BatchNorm3d(2), 5), new Flatten(), linear(24, 2, 2))),
        lossFunction: extend(new MSELoss('sum')),
        input: randomTensor([2, 2, 2, 3, 4], 1),
        target: randomTensor([2, 2], 2),
      }),
    },
  ];

  it.each(problems)('$name', ({ make }) => {
    const problem = make();
    lossOf(problem).backward();
    for (const [name, parameter] of problem.model.namedParameters()) {
      const numeric = parameterJacobian(parameter, () => lossOf(problem));
      expect(parameter.grad, name).toBeDefined();
      expectClose(parameter.grad!, numeric.data, FD_RTOL, parameter.data.shape);
    }
  });
});

describe('BatchNorm rejects bad input, naming the module and the numbers', () => {
  it('a wrong input rank', () => {
    expect(() => new BatchNorm2d(3).forward(randomTensor([2, 3, 4], 1))).toThrow(/BatchNorm2d expects \[N, C, H, W\].*got shape \[2, 3, 4\]/);
    expect(() => new BatchNorm1d(3).forward(randomTensor([2, 3, 4, 5], 1))).toThrow(/BatchNorm1d expects \[N, C\] or \[N, C, L\].*\[2, 3, 4, 5\]/);
    expect(() => new BatchNorm3d(3).forward(randomTensor([2, 3, 4, 5], 1))).toThrow(/BatchNorm3d expects \[N, C, D, H, W\]/);
  });

  it('the wrong number of channels', () => {
    expect(() => new BatchNorm2d(3).forward(randomTensor([2, 4, 3, 3], 1))).toThrow(
      /BatchNorm2d: input of shape \[2, 4, 3, 3\] has 4 channels \(dimension 1\), but the module expects 3/,
    );
  });

  it('a single value per channel in training mode (fine in evaluation mode), as PyTorch', () => {
    expect(() => new BatchNorm1d(4).forward(randomTensor([1, 4], 1))).toThrow(
      /BatchNorm1d: expected more than 1 value per channel when training, got input of shape \[1, 4\]/,
    );
    expect(new BatchNorm1d(4).eval().forward(randomTensor([1, 4], 1)).shape).toEqual([1, 4]);
  });

  it('bad options and int32 input', () => {
    expect(() => new BatchNorm1d(0)).toThrow(/BatchNorm1d: numFeatures must be an integer >= 1, got 0/);
    expect(() => new BatchNorm1d(2, { momentum: 2 })).toThrow(/momentum must be in \[0, 1\] or null, got 2/);
    expect(() => new BatchNorm1d(2).forward(t([1, 2, 3, 4], [2, 2], 'int32'))).toThrow(/BatchNorm1d: expects a float input, got int32/);
  });
});
