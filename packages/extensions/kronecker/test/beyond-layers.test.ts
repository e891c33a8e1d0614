/**
 * KFLR, KFRA and KFAC on layers and settings the reference refuses or lacks,
 * each against the independent computation with explicit per-sample
 * Jacobians (test/reference.ts, test/reference-layers.ts), which reproduces
 * every golden KFLR/KFRA (test/golden.test.ts):
 *
 * - grouped convolutions and grouped transposed convolutions (one Kronecker
 *   product per group, stacked along a leading group axis);
 * - ConvTranspose1d with output padding (and padding, so that the padded
 *   positions receive input; and output padding beyond the stride, where the
 *   window has positions past the input), dilation, Conv3d;
 * - BatchNorm in evaluation mode (BatchNorm1d on `[N, C]` and `[N, C, L]`,
 *   BatchNorm2d), AdaptiveAvgPool, ZeroPad2d with uneven sides, max pooling
 *   with padding;
 * - MSELoss on convolution outputs (rank 3 and 4, mean and sum);
 * - Embedding;
 * - KFRA's residual curvature through convolutional networks;
 * - BatchNorm in training mode is refused before anything is modified.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  buildSupportedGoldenModel,
  failedMessages,
  syntheticGoldenCase,
  type CompareReport,
  type GoldenCase,
  type SyntheticCaseSpec,
} from '@backpack-ts/conformance';
import { backpack, type Extension, type Parameter } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA, type KFRACurvature } from '../src/index.js';
import { compareFactorList, refProblemFromGolden } from './helpers.js';
import { referenceKronecker } from './reference.js';

const cases: readonly SyntheticCaseSpec[] = [
  {
    name: 'grouped Conv2d (groups 2, 3; one without bias), CrossEntropyLoss',
    layers: [
      { type: 'Conv2d', in: 4, out: 6, kernel: 3, padding: 1, groups: 2 },
      { type: 'ReLU' },
      { type: 'Conv2d', in: 6, out: 3, kernel: 2, stride: 2, groups: 3, bias: false },
      { type: 'Flatten' },
      { type: 'Linear', in: 12, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [4, 4, 4],
  },
  {
    name: 'ConvTranspose1d with stride 2, padding 1, output_padding 1; Tanh; MSELoss',
    layers: [
      { type: 'ConvTranspose1d', in: 2, out: 3, kernel: 3, stride: 2, padding: 1, output_padding: 1 },
      { type: 'Tanh' },
      { type: 'Flatten' },
      { type: 'Linear', in: 24, out: 2 },
    ],
    loss: { type: 'MSELoss' },
    batch: 4,
    inputShape: [2, 4],
  },
  {
    name: 'ConvTranspose1d with output_padding 2 >= stride 1 (below dilation 3): window positions beyond the input',
    layers: [
      { type: 'ConvTranspose1d', in: 2, out: 2, kernel: 2, stride: 1, padding: 1, dilation: 3, output_padding: 2 },
      { type: 'Sigmoid' },
      { type: 'Flatten' },
      { type: 'Linear', in: 14, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [2, 4],
  },
  {
    name: 'grouped ConvTranspose2d (groups 2, dilation 2), Sigmoid, AdaptiveAvgPool2d, CrossEntropyLoss',
    layers: [
      { type: 'ConvTranspose2d', in: 4, out: 2, kernel: 2, stride: 2, dilation: 2, groups: 2 },
      { type: 'Sigmoid' },
      { type: 'AdaptiveAvgPool2d', output_size: [2, 3] },
      { type: 'Flatten' },
      { type: 'Linear', in: 12, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [4, 2, 3],
  },
  {
    name: 'Conv2d, BatchNorm2d (evaluation), ReLU, MaxPool2d with padding, BCEWithLogitsLoss',
    layers: [
      { type: 'Conv2d', in: 2, out: 3, kernel: 3 },
      { type: 'BatchNorm2d', features: 3 },
      { type: 'ReLU' },
      { type: 'MaxPool2d', kernel: 3, stride: 2, padding: 1 },
      { type: 'Flatten' },
      { type: 'Linear', in: 12, out: 2 },
    ],
    loss: { type: 'BCEWithLogitsLoss' },
    batch: 3,
    inputShape: [2, 5, 6],
  },
  {
    name: 'Linear, BatchNorm1d on [N, C] (evaluation), Sigmoid, Linear, CrossEntropyLoss',
    layers: [
      { type: 'Linear', in: 4, out: 5 },
      { type: 'BatchNorm1d', features: 5 },
      { type: 'Sigmoid' },
      { type: 'Linear', in: 5, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 5,
    inputShape: [4],
  },
  {
    name: 'Conv1d (dilation 2), BatchNorm1d on [N, C, L] (evaluation), Tanh, Conv1d; MSELoss (mean) on [N, 2, L]',
    layers: [
      { type: 'Conv1d', in: 2, out: 3, kernel: 3, dilation: 2, padding: 2 },
      { type: 'BatchNorm1d', features: 3 },
      { type: 'Tanh' },
      { type: 'Conv1d', in: 3, out: 2, kernel: 2 },
    ],
    loss: { type: 'MSELoss' },
    batch: 3,
    inputShape: [2, 5],
  },
  {
    name: 'ZeroPad2d [1, 0, 2, 1], Conv2d, ELU, AvgPool2d; MSELoss (sum) on [N, 2, H, W]',
    layers: [
      { type: 'ZeroPad2d', padding: [1, 0, 2, 1] },
      { type: 'Conv2d', in: 2, out: 3, kernel: 2 },
      { type: 'ELU' },
      { type: 'AvgPool2d', kernel: 2, stride: 1 },
      { type: 'Conv2d', in: 3, out: 2, kernel: 1 },
    ],
    loss: { type: 'MSELoss', reduction: 'sum' },
    batch: 2,
    inputShape: [2, 3, 3],
  },
  {
    name: 'Conv3d, ReLU, AdaptiveAvgPool3d, Flatten, Linear, CrossEntropyLoss',
    layers: [
      { type: 'Conv3d', in: 1, out: 2, kernel: 2 },
      { type: 'ReLU' },
      { type: 'AdaptiveAvgPool3d', output_size: 1 },
      { type: 'Flatten' },
      { type: 'Linear', in: 2, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 4,
    inputShape: [1, 3, 3, 3],
  },
  {
    name: 'Embedding on [N, 3] indices, Flatten, Tanh, Linear, CrossEntropyLoss',
    layers: [
      { type: 'Embedding', num_embeddings: 6, embedding_dim: 4 },
      { type: 'Flatten' },
      { type: 'Tanh' },
      { type: 'Linear', in: 12, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 4,
    inputShape: [3],
    indexRange: 6,
  },
];

const build = (golden: GoldenCase) => buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });

function run(golden: GoldenCase, extensions: readonly Extension[]): Map<string, Parameter> {
  const built = build(golden);
  const loss = built.loss.forward(built.model.forward(built.input), built.target);
  backpack(extensions, () => loss.backward());
  return new Map(built.model.namedParameters());
}

/** Every parameter's `field` against the reference's factors. */
function compareAll(
  golden: GoldenCase,
  parameters: ReadonlyMap<string, Parameter>,
  field: 'kflr' | 'kfra',
  curvature: KFRACurvature = 'ggn',
): CompareReport[] {
  const reference = referenceKronecker(refProblemFromGolden(golden), curvature);
  const reports: CompareReport[] = [];
  for (const [name, parameter] of parameters) {
    const [layer, local] = name.split('.') as [string, string];
    const expected = reference.factors.get(Number(layer))![field];
    reports.push(...compareFactorList(parameter[field], local === 'weight' ? expected.weight : expected.bias, `${name} ${field}`));
  }
  return reports;
}

describe.each(cases.map((spec, i) => [spec.name, spec, i] as const))('%s', (_name, spec, i) => {
  const golden = syntheticGoldenCase(spec, 100 + i, cpu);

  it('KFLR and KFRA equal the explicit computation; KFAC has their shapes', () => {
    const parameters = run(golden, [new KFLR(), new KFRA(), new KFAC({ seed: 1 })]);
    const reports = [...compareAll(golden, parameters, 'kflr'), ...compareAll(golden, parameters, 'kfra')];
    expect(reports.length).toBeGreaterThan(0);
    expect(failedMessages(reports)).toEqual([]);
    for (const [name, parameter] of parameters) {
      expect(parameter.kfac!.map((t) => t.shape), name).toEqual(parameter.kflr!.map((t) => t.shape));
    }
  });

  it('each alone gives what they give together', () => {
    const together = run(golden, [new KFLR(), new KFRA(), new KFAC({ seed: 1 })]);
    for (const [make, field] of [
      [() => new KFLR(), 'kflr'],
      [() => new KFRA(), 'kfra'],
      [() => new KFAC({ seed: 1 }), 'kfac'],
    ] as const) {
      const alone = run(golden, [make()]);
      for (const [name, parameter] of alone) {
        expect(parameter[field]!.map((t) => Array.from(t.toArray())), `${name} ${field}`).toEqual(
          together.get(name)![field]!.map((t) => Array.from(t.toArray())),
        );
      }
    }
  });
});

describe('grouped convolutions: the stacked factors', () => {
  it('with G groups the weight factors are [G, out/G, out/G] and [G, in/G·K, in/G·K]; the bias factor stays [out, out]', () => {
    const golden = syntheticGoldenCase(cases[0]!, 100, cpu);
    const parameters = run(golden, [new KFLR()]);
    expect(parameters.get('0.weight')!.kflr!.map((t) => t.shape)).toEqual([
      [2, 3, 3],
      [2, 18, 18],
    ]);
    expect(parameters.get('0.bias')!.kflr!.map((t) => t.shape)).toEqual([[6, 6]]);
    expect(parameters.get('2.weight')!.kflr!.map((t) => t.shape)).toEqual([
      [3, 1, 1],
      [3, 8, 8],
    ]);
    // Group blocks of the weight's output factor are the diagonal blocks of the bias factor.
    const bias = parameters.get('0.bias')!.kflr![0]!.toArray();
    const blocks = parameters.get('0.weight')!.kflr![0]!.toArray();
    for (let g = 0; g < 2; g++) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) expect(blocks[g * 9 + a * 3 + b]).toBe(bias[(g * 3 + a) * 6 + g * 3 + b]);
      }
    }
  });
});

describe('KFRA residual curvature through a convolutional network', () => {
  it.each(['hessian', 'pch-abs', 'pch-clip'] as const)('curvature %s equals the explicit recursion', (curvature) => {
    for (const spec of [cases[1]!, cases[2]!, cases[3]!, cases[7]!]) {
      const golden = syntheticGoldenCase(spec, 7, cpu);
      const parameters = run(golden, [new KFRA({ curvature })]);
      expect(failedMessages(compareAll(golden, parameters, 'kfra', curvature))).toEqual([]);
    }
  });
});

describe('BatchNorm in training mode', () => {
  it.each([
    ['KFLR', () => new KFLR()],
    ['KFRA', () => new KFRA()],
    ['KFAC', () => new KFAC({ seed: 0 })],
  ] as const)('%s refuses it before anything is modified, naming the module', (name, make) => {
    const golden = syntheticGoldenCase(cases.find((c) => c.name.startsWith('Linear, BatchNorm1d'))!, 3, cpu);
    const built = build(golden);
    built.model.train();
    const loss = built.loss.forward(built.model.forward(built.input), built.target);
    expect(() => backpack([make()], () => loss.backward())).toThrow(
      new RegExp(`^${name} cannot run: BatchNorm1d '1' is in training mode`),
    );
    for (const [, parameter] of built.model.namedParameters()) {
      expect(parameter.grad).toBeUndefined();
      expect(parameter.kflr ?? parameter.kfra ?? parameter.kfac).toBeUndefined();
    }
  });
});
