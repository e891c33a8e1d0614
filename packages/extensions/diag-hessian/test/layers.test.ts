/**
 * DiagHessian and BatchDiagHessian on convolutions, transposed convolutions,
 * pooling, padding, BatchNorm (evaluation mode) and Embedding, against
 * central finite differences of core's `.grad` (helpers/brute-force.ts;
 * step 1e-5, tolerance 1e-7 relative to the largest entry), per sample for
 * BatchDiagHessian. Curved activations sit right after convolutions, so their
 * (diagonal) residual factors pass through convolutions, pooling and
 * BatchNorm. Beyond the reference: BatchNorm and AdaptiveAvgPool (the
 * reference has no DiagHessian for them), transposed convolutions with
 * output padding, grouped convolutions, MSELoss on convolution outputs,
 * Embedding. BatchNorm in training mode is refused.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  buildSupportedGoldenModel,
  compareArrays,
  failedMessages,
  sampleOf,
  syntheticGoldenCase,
  WorstRelErrors,
  type CompareReport,
  type GoldenCase,
  type SyntheticCaseSpec,
} from '@backpack-ts/conformance';
import { backpack, sum } from '@backpack-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchDiagHessian, DiagHessian } from '../src/index.js';
import { FD_TOLERANCE, hessianDiagonalByFD, perSampleHessianDiagonalByFD } from './helpers/brute-force.js';

const cases: readonly SyntheticCaseSpec[] = [
  {
    name: 'grouped Conv2d, Sigmoid, MaxPool2d, Conv2d, Flatten, Linear; CrossEntropyLoss',
    layers: [
      { type: 'Conv2d', in: 2, out: 4, kernel: 2, groups: 2 },
      { type: 'Sigmoid' },
      { type: 'MaxPool2d', kernel: 2, stride: 1 },
      { type: 'Conv2d', in: 4, out: 2, kernel: 2, bias: false },
      { type: 'Flatten' },
      { type: 'Linear', in: 2, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [2, 4, 4],
  },
  {
    name: 'ConvTranspose1d (stride 2, padding 1, output_padding 1), Tanh, Flatten, Linear; MSELoss',
    layers: [
      { type: 'ConvTranspose1d', in: 2, out: 2, kernel: 3, stride: 2, padding: 1, output_padding: 1 },
      { type: 'Tanh' },
      { type: 'Flatten' },
      { type: 'Linear', in: 12, out: 2 },
    ],
    loss: { type: 'MSELoss' },
    batch: 3,
    inputShape: [2, 3],
  },
  {
    name: 'grouped ConvTranspose2d (dilation 3, output_padding 2 >= stride), ELU, AdaptiveAvgPool2d, Flatten, Linear; CrossEntropyLoss',
    layers: [
      { type: 'ConvTranspose2d', in: 2, out: 2, kernel: 2, padding: 1, dilation: 3, output_padding: 2, groups: 2 },
      { type: 'ELU' },
      { type: 'AdaptiveAvgPool2d', output_size: [2, 1] },
      { type: 'Flatten' },
      { type: 'Linear', in: 4, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 2,
    inputShape: [2, 2, 2],
  },
  {
    name: 'ZeroPad2d, Conv2d, BatchNorm2d (evaluation), Tanh, AvgPool2d, Flatten, Linear; BCEWithLogitsLoss',
    layers: [
      { type: 'ZeroPad2d', padding: [1, 0, 1, 0] },
      { type: 'Conv2d', in: 1, out: 2, kernel: 2 },
      { type: 'BatchNorm2d', features: 2 },
      { type: 'Tanh' },
      { type: 'AvgPool2d', kernel: 2 },
      { type: 'Flatten' },
      { type: 'Linear', in: 2, out: 2 },
    ],
    loss: { type: 'BCEWithLogitsLoss' },
    batch: 3,
    inputShape: [1, 2, 2],
  },
  {
    name: 'Linear, BatchNorm1d on [N, C] (evaluation), Sigmoid, Linear; CrossEntropyLoss (sum)',
    layers: [
      { type: 'Linear', in: 3, out: 4 },
      { type: 'BatchNorm1d', features: 4 },
      { type: 'Sigmoid' },
      { type: 'Linear', in: 4, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss', reduction: 'sum' },
    batch: 4,
    inputShape: [3],
  },
  {
    name: 'Conv1d, BatchNorm1d on [N, C, L] (evaluation), Tanh, Conv1d; MSELoss (sum) on [N, 2, L]',
    layers: [
      { type: 'Conv1d', in: 2, out: 2, kernel: 2, dilation: 2 },
      { type: 'BatchNorm1d', features: 2 },
      { type: 'Tanh' },
      { type: 'Conv1d', in: 2, out: 2, kernel: 1 },
    ],
    loss: { type: 'MSELoss', reduction: 'sum' },
    batch: 2,
    inputShape: [2, 4],
  },
  {
    name: 'Conv3d, Sigmoid, Flatten, Linear; CrossEntropyLoss',
    layers: [
      { type: 'Conv3d', in: 1, out: 2, kernel: 2, stride: 2 },
      { type: 'Sigmoid' },
      { type: 'Flatten' },
      { type: 'Linear', in: 2, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [1, 3, 3, 2],
  },
  {
    name: 'Embedding on [N, 3] indices, Flatten, Tanh, Linear; CrossEntropyLoss',
    layers: [
      { type: 'Embedding', num_embeddings: 4, embedding_dim: 2 },
      { type: 'Flatten' },
      { type: 'Tanh' },
      { type: 'Linear', in: 6, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [3],
    indexRange: 4,
  },
];

const worst = new WorstRelErrors();

function expectOk(reports: readonly CompareReport[], key: string): void {
  worst.record(key, reports);
  expect(reports.length).toBeGreaterThan(0);
  expect(failedMessages(reports)).toEqual([]);
}

const build = (golden: GoldenCase) => buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });

describe.each(cases.map((spec, i) => [spec.name, spec, i] as const))('%s', (name, spec, i) => {
  const golden = syntheticGoldenCase(spec, 300 + i, cpu);

  it('DiagHessian equals the finite-difference Hessian diagonal; BatchDiagHessian the per-sample ones, summing to DiagHessian', () => {
    const built = build(golden);
    const loss = built.loss.forward(built.model.forward(built.input), built.target);
    backpack([new DiagHessian(), new BatchDiagHessian()], () => loss.backward());
    const named = built.model.namedParameters();
    const parameters = named.map(([, p]) => p);

    const fd = hessianDiagonalByFD(parameters, () => built.loss.forward(built.model.forward(built.input), built.target));
    expectOk(
      named.map(([param, p], k) =>
        compareArrays({ shape: p.diagH!.shape, data: p.diagH!.toArray() }, { shape: p.data.shape, data: fd[k]! }, {
          tolerance: FD_TOLERANCE,
          label: `${name} ${param} DiagHessian`,
        }),
      ),
      `${name} DiagHessian`,
    );

    const n = spec.batch;
    const scale = (spec.loss.reduction ?? 'mean') === 'mean' ? 1 / n : 1;
    const perSample = perSampleHessianDiagonalByFD(parameters, n, (s) =>
      built.loss.forward(built.model.forward(sampleOf(built.input, s)), sampleOf(built.target, s)),
    );
    expectOk(
      named.map(([param, p], k) =>
        compareArrays(
          { shape: p.diagHBatch!.shape, data: p.diagHBatch!.toArray() },
          { shape: [n, ...p.data.shape], data: Array.from(perSample[k]!, (v) => v * scale) },
          { tolerance: FD_TOLERANCE, label: `${name} ${param} BatchDiagHessian` },
        ),
      ),
      `${name} BatchDiagHessian`,
    );
    expectOk(
      named.map(([param, p]) =>
        compareArrays({ shape: p.data.shape, data: sum(p.diagHBatch!, 0).toArray() }, { shape: p.diagH!.shape, data: p.diagH!.toArray() }, {
          tolerance: 1e-12,
          label: `${name} ${param} Σ_n BatchDiagHessian vs DiagHessian`,
        }),
      ),
      `${name} Σ_n BatchDiagHessian vs DiagHessian`,
    );
  });
});

describe('BatchNorm in training mode', () => {
  it.each([
    ['DiagHessian', () => new DiagHessian()],
    ['BatchDiagHessian', () => new BatchDiagHessian()],
  ] as const)('%s refuses the pass before anything is modified, naming the module', (name, make) => {
    const built = build(syntheticGoldenCase(cases[4]!, 9, cpu));
    built.model.train();
    const loss = built.loss.forward(built.model.forward(built.input), built.target);
    expect(() => backpack([make()], () => loss.backward())).toThrow(new RegExp(`^${name} cannot run: BatchNorm1d '1' is in training mode`));
    for (const [, parameter] of built.model.namedParameters()) {
      expect(parameter.grad).toBeUndefined();
      expect(parameter.diagH ?? parameter.diagHBatch).toBeUndefined();
    }
  });
});

afterAll(() => {
  const summary = worst.summary('new layers vs finite differences of .grad:');
  if (summary !== undefined) console.log(summary);
});
