/**
 * KFAC's Monte-Carlo output-side factor against KFLR's exact one, with a
 * tolerance derived from the samples themselves: each of the M samples gives
 * an unbiased estimate G_m of KFLR's G (KFAC's G is their mean), so the
 * standard error of an entry is the sample standard deviation of the G_m
 * over √M. Every entry must lie within 5 standard errors, and the test must
 * be able to tell a 10% scaling error apart. Plus seeded reproducibility.
 */
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Generator,
  Linear,
  MSELoss,
  Sequential,
  Tanh,
  defaultGenerator,
  einsum,
  extend,
  manualSeed,
  mul,
  reshape,
  sigmoid,
  sum,
  tensor,
  type GraphNode,
  type LossModule,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR } from '../src/index.js';
import { float64, runExtensions } from './helpers.js';
import { buildSupportedGoldenModel, syntheticGoldenCase } from '@backpack-ts/conformance';

const SAMPLES = 20000;

/**
 * KFAC that also records, for every Linear layer (output factor) and every
 * convolution (channel factor), the per-sample estimates
 * `G_m = M Σ_{n} s_{mn} s_{mn}ᵀ` (s summed over positions for a convolution).
 */
class RecordingKFAC extends KFAC {
  readonly estimates = new Map<string, { data: number[]; out: number }>();
  private record(node: GraphNode, flat: Tensor): void {
    const [m, out] = [flat.shape[0]!, flat.shape[2]!];
    const perSample = mul(einsum('mko,mkp->mop', flat, flat), m);
    this.estimates.set(node.module.path, { data: perSample.toArray() as unknown as number[], out });
  }
  override outputFactor(node: GraphNode, sqrt: Tensor): Tensor {
    this.record(node, reshape(sqrt, [sqrt.shape[0]!, -1, sqrt.shape[sqrt.rank - 1]!]));
    return super.outputFactor(node, sqrt);
  }
  override channelFactor(node: GraphNode, sqrt: Tensor): Tensor {
    const spatial = sqrt.shape.map((_, i) => i).filter((i) => i >= 3);
    const summed = spatial.length === 0 ? sqrt : sum(sqrt, spatial);
    this.record(node, summed);
    return super.channelFactor(node, sqrt);
  }
}

/**
 * Every entry of KFAC's stored output-side factor of `param` is the mean of
 * the recorded estimates and lies within 5 standard errors of KFLR's; the
 * bound is tight enough to see a 10% scaling error.
 */
function expectWithinStandardErrors(kfac: RecordingKFAC, layer: string, estimate: ArrayLike<number>, truth: ArrayLike<number>): void {
  const { data, out } = kfac.estimates.get(layer)!;
  const samples = data.length / (out * out);
  const entries = out * out;
  const scale = Math.max(...Array.from(truth, Math.abs));
  let maxRelativeSE = 0;
  let detectsTenPercent = false;
  for (let e = 0; e < entries; e++) {
    let total = 0;
    for (let m = 0; m < samples; m++) total += data[m * entries + e]!;
    const mean = total / samples;
    let squares = 0;
    for (let m = 0; m < samples; m++) squares += (data[m * entries + e]! - mean) ** 2;
    const se = Math.sqrt(squares / (samples - 1)) / Math.sqrt(samples);
    expect(Math.abs(estimate[e]! - mean)).toBeLessThanOrEqual(1e-12 * scale);
    const error = Math.abs(estimate[e]! - truth[e]!);
    expect(error, `layer ${layer} entry ${e}: |KFAC - KFLR| = ${error}, standard error ${se}`).toBeLessThanOrEqual(5 * se + 1e-12 * scale);
    maxRelativeSE = Math.max(maxRelativeSE, se / scale);
    if (Math.abs(estimate[e]! - 1.1 * truth[e]!) > 5 * se) detectsTenPercent = true;
  }
  expect(maxRelativeSE).toBeLessThan(0.01);
  expect(detectsTenPercent).toBe(true);
}

interface Setup {
  readonly name: string;
  readonly loss: () => LossModule;
  readonly target: () => Tensor;
}

const N = 4;
const C = 3;
const setups: readonly Setup[] = [
  {
    name: 'CrossEntropyLoss (categorical samples)',
    loss: () => new CrossEntropyLoss(),
    target: () => tensor([0, 2, 1, 2], [N], { ...float64, dtype: 'int32' }),
  },
  {
    name: 'MSELoss (Gaussian samples)',
    loss: () => new MSELoss(),
    target: () => new Generator(11).normal([N, C], float64),
  },
  {
    name: 'BCEWithLogitsLoss with 3 outputs (Bernoulli samples)',
    loss: () => new BCEWithLogitsLoss('sum'),
    target: () => sigmoid(new Generator(12).normal([N, C], float64)),
  },
];

function tinyNet(): Sequential {
  const generator = new Generator(5);
  return extend(
    new Sequential(
      new Linear(3, 4, { ...float64, generator }),
      new Tanh(),
      new Linear(4, C, { ...float64, generator }),
    ),
  );
}

function input(): Tensor {
  return mul(new Generator(6).normal([N, 3], float64), 1.5);
}

describe.each(setups)('KFAC with $name', (setup) => {
  it(`approaches KFLR's output-side factor within 5 standard errors (${SAMPLES} samples)`, () => {
    const model = tinyNet();
    const loss = extend(setup.loss());
    const target = setup.target();
    runExtensions(model, loss, input(), target, [new KFLR()]);
    const exact = new Map(model.namedParameters().map(([name, p]) => [name, p.kflr![0]!.toArray()]));

    const kfac = new RecordingKFAC({ mcSamples: SAMPLES, seed: 2024 });
    runExtensions(model, loss, input(), target, [kfac]);
    const parameters = new Map(model.namedParameters());

    for (const layer of ['0', '2']) {
      const estimate = parameters.get(`${layer}.weight`)!.kfac![0]!.toArray();
      expectWithinStandardErrors(kfac, layer, estimate, exact.get(`${layer}.weight`)!);
    }
    // The input-side factor is not sampled.
    for (const [name, p] of model.namedParameters()) {
      if (name.endsWith('weight')) expect(p.kfac![1]!.toArray()).toEqual(p.kflr![1]!.toArray());
    }
  });
});

describe('KFAC randomness', () => {
  function kfacFactors(kfac: KFAC, model = tinyNet()): number[][] {
    runExtensions(model, extend(new CrossEntropyLoss()), input(), setups[0]!.target(), [kfac]);
    return model.namedParameters().flatMap(([, p]) => p.kfac!.map((t) => [...t.toArray()]));
  }

  it('is reproducible: the same seed gives identical factors, another seed different ones', () => {
    const a = kfacFactors(new KFAC({ seed: 7, mcSamples: 3 }));
    const b = kfacFactors(new KFAC({ seed: 7, mcSamples: 3 }));
    const c = kfacFactors(new KFAC({ seed: 8, mcSamples: 3 }));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // A generator passed in draws the same numbers as the seed.
    expect(kfacFactors(new KFAC({ generator: new Generator(7), mcSamples: 3 }))).toEqual(a);
  });

  it('draws new samples on every backward pass of one instance (its generator advances)', () => {
    const kfac = new KFAC({ seed: 7, mcSamples: 3 });
    const model = tinyNet();
    const first = kfacFactors(kfac, model);
    const second = kfacFactors(kfac, model);
    expect(second).not.toEqual(first);
    expect(first).toEqual(kfacFactors(new KFAC({ seed: 7, mcSamples: 3 })));
  });

  it("without seed or generator it draws from core's default generator (reseeded by manualSeed)", () => {
    expect(new KFAC().generator).toBe(defaultGenerator);
    manualSeed(99);
    const a = kfacFactors(new KFAC({ mcSamples: 2 }));
    manualSeed(99);
    const b = kfacFactors(new KFAC({ mcSamples: 2 }));
    expect(b).toEqual(a);
  });

  it('rejects invalid options', () => {
    expect(() => new KFAC({ mcSamples: 0 })).toThrow(RangeError);
    expect(() => new KFAC({ mcSamples: 1.5 })).toThrow(/positive integer/);
    expect(() => new KFAC({ seed: 1, generator: new Generator(1) })).toThrow(/either seed or generator/);
  });
});

describe('KFAC on a convolutional network (CrossEntropyLoss, categorical samples)', () => {
  it(`approaches KFLR's output-side factors of Conv2d, grouped Conv2d and Linear within 5 standard errors (${SAMPLES} samples)`, () => {
    const golden = syntheticGoldenCase(
      {
        name: 'small cnn',
        layers: [
          { type: 'Conv2d', in: 1, out: 2, kernel: 3 },
          { type: 'Tanh' },
          { type: 'MaxPool2d', kernel: 2, stride: 1 },
          { type: 'Conv2d', in: 2, out: 4, kernel: 2, groups: 2 },
          { type: 'Flatten' },
          { type: 'Linear', in: 4, out: 3 },
        ],
        loss: { type: 'CrossEntropyLoss' },
        batch: 3,
        inputShape: [1, 5, 5],
      },
      31,
      float64.backend,
    );
    const build = () => buildSupportedGoldenModel(golden, float64);
    const exactRun = build();
    runExtensions(exactRun.model, exactRun.loss, exactRun.input, exactRun.target, [new KFLR()]);
    const exact = new Map(exactRun.model.namedParameters().map(([name, p]) => [name, p.kflr!.map((t) => t.toArray())]));
    const exactShapes = new Map(exactRun.model.namedParameters().map(([name, p]) => [name, p.kflr!.map((t) => t.shape)]));

    const kfac = new RecordingKFAC({ mcSamples: SAMPLES, seed: 2025 });
    const sampledRun = build();
    runExtensions(sampledRun.model, sampledRun.loss, sampledRun.input, sampledRun.target, [kfac]);
    const parameters = new Map(sampledRun.model.namedParameters());

    expect(exactShapes.get('3.weight')).toEqual([
      [2, 2, 2],
      [2, 4, 4],
    ]);
    for (const layer of ['0', '3', '5']) {
      // The bias factor is the (sampled) channel factor; the grouped weight stacks its diagonal blocks.
      expectWithinStandardErrors(kfac, layer, parameters.get(`${layer}.bias`)!.kfac![0]!.toArray(), exact.get(`${layer}.bias`)![0]!);
    }
    // The input-side factors are not sampled; the grouped weight's output blocks come from the same estimate.
    for (const [name, p] of parameters) {
      if (!name.endsWith('weight')) continue;
      expect(p.kfac![1]!.toArray()).toEqual(exact.get(name)![1]!);
      expect(p.kfac!.map((t) => t.shape)).toEqual(exactShapes.get(name));
    }
  });
});
