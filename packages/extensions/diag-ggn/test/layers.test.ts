/**
 * The exact GGN extensions on convolutions, transposed convolutions,
 * pooling, padding, BatchNorm (evaluation mode) and Embedding, against the
 * GGN by its definition `Σ_n J_nᵀ H_n J_n`: explicit per-sample Jacobians
 * (helpers/jacobians.ts) and loss Hessians written out by hand
 * (helpers/ggn.ts). Compared:
 * - DiagGGNExact with the diagonal of the block,
 * - BatchDiagGGNExact with the diagonals of the per-sample blocks,
 * - SqrtGGNExact's outer products `Σ_c P[c, n] P[c, n]ᵀ` with the per-sample blocks.
 *
 * Includes settings the reference lacks: grouped and transposed
 * convolutions with output padding (also beyond the stride), BatchNorm on
 * `[N, C]`, `[N, C, L]` and `[N, C, H, W]`, AdaptiveAvgPool (the reference
 * has no SqrtGGN for it), MSELoss on convolution outputs, Embedding.
 * BatchNorm in training mode is refused by all six extensions.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { buildSupportedGoldenModel, syntheticGoldenCase, type GoldenCase, type SyntheticCaseSpec } from '@backpack-ts/conformance';
import { backpack, tidy, type Extension } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '../src/index.js';
import {
  binaryCrossEntropyHessian,
  crossEntropyHessian,
  diagonal,
  expectClose,
  outerProducts,
  squaredErrorHessian,
  type Matrix,
} from './helpers/ggn.js';
import { ggnBlockOf, perSampleJacobians } from './helpers/jacobians.js';

const TOLERANCE = 1e-12;

const cases: readonly SyntheticCaseSpec[] = [
  {
    name: 'grouped Conv2d, ReLU, MaxPool2d (padding 1), Conv2d without bias, Flatten, Linear; CrossEntropyLoss',
    layers: [
      { type: 'Conv2d', in: 2, out: 4, kernel: 3, padding: 1, groups: 2 },
      { type: 'ReLU' },
      { type: 'MaxPool2d', kernel: 3, stride: 2, padding: 1 },
      { type: 'Conv2d', in: 4, out: 2, kernel: 2, bias: false },
      { type: 'Flatten' },
      { type: 'Linear', in: 2, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 3,
    inputShape: [2, 3, 3],
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
    name: 'grouped ConvTranspose2d (dilation 3, output_padding 2 >= stride), Sigmoid, AdaptiveAvgPool2d, Flatten, Linear; CrossEntropyLoss',
    layers: [
      { type: 'ConvTranspose2d', in: 2, out: 2, kernel: 2, padding: 1, dilation: 3, output_padding: 2, groups: 2 },
      { type: 'Sigmoid' },
      { type: 'AdaptiveAvgPool2d', output_size: [2, 1] },
      { type: 'Flatten' },
      { type: 'Linear', in: 4, out: 3 },
    ],
    loss: { type: 'CrossEntropyLoss' },
    batch: 2,
    inputShape: [2, 2, 2],
  },
  {
    name: 'ZeroPad2d, Conv2d, BatchNorm2d (evaluation), ReLU, AvgPool2d, Flatten, Linear; BCEWithLogitsLoss',
    layers: [
      { type: 'ZeroPad2d', padding: [1, 0, 1, 0] },
      { type: 'Conv2d', in: 1, out: 2, kernel: 2 },
      { type: 'BatchNorm2d', features: 2 },
      { type: 'ReLU' },
      { type: 'AvgPool2d', kernel: 2 },
      { type: 'Flatten' },
      { type: 'Linear', in: 2, out: 2 },
    ],
    loss: { type: 'BCEWithLogitsLoss' },
    batch: 3,
    inputShape: [1, 2, 2],
  },
  {
    name: 'Linear, BatchNorm1d on [N, C] (evaluation), ELU, Linear; CrossEntropyLoss (sum)',
    layers: [
      { type: 'Linear', in: 3, out: 4 },
      { type: 'BatchNorm1d', features: 4 },
      { type: 'ELU' },
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
    name: 'Conv3d, ReLU, Flatten, Linear; CrossEntropyLoss',
    layers: [
      { type: 'Conv3d', in: 1, out: 2, kernel: 2, stride: 2 },
      { type: 'ReLU' },
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

const build = (golden: GoldenCase) => buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });

/** The loss Hessian of each sample w.r.t. its flattened output, with the reduction's factor. */
function lossHessians(golden: GoldenCase, outputs: readonly number[][]): Matrix[] {
  const n = outputs.length;
  const d = outputs[0]!.length;
  const mean = (golden.case.loss.reduction ?? 'mean') === 'mean';
  switch (golden.case.loss.type) {
    case 'CrossEntropyLoss':
      return outputs.map((y) => crossEntropyHessian(y, mean ? 1 / n : 1));
    case 'MSELoss':
      return outputs.map(() => squaredErrorHessian(d, mean ? 1 / (n * d) : 1));
    default:
      return outputs.map((y) => binaryCrossEntropyHessian(y, mean ? 1 / (n * d) : 1));
  }
}

describe.each(cases.map((spec, i) => [spec.name, spec, i] as const))('%s', (_name, spec, i) => {
  const golden = syntheticGoldenCase(spec, 200 + i, cpu);

  it('DiagGGNExact, BatchDiagGGNExact and SqrtGGNExact equal the GGN by its definition', () => {
    tidy(() => {
      const reference = build(golden);
      const { jacobians, outputs, offsets, total } = perSampleJacobians(reference.model, reference.input);
      const hessians = lossHessians(golden, outputs);
      const d = outputs[0]!.length;
      const n = outputs.length;

      const built = build(golden);
      const loss = built.loss.forward(built.model.forward(built.input), built.target);
      backpack([new DiagGGNExact(), new BatchDiagGGNExact(), new SqrtGGNExact()], () => loss.backward());
      for (const [name, parameter] of built.model.namedParameters()) {
        const k = parameter.data.size;
        const shape = parameter.data.shape;
        const perSample = jacobians.map((jac, s) => ggnBlockOf(jac, d, total, hessians[s]!, offsets.get(name)!, k));
        const block = perSample.reduce((sum, m) => ({ size: k, data: sum.data.map((v, j) => v + m.data[j]!) }));

        expect(parameter.diagGgnExact?.shape).toEqual(shape);
        expectClose(parameter.diagGgnExact!.toArray(), diagonal(block), TOLERANCE, `${name} DiagGGNExact`);
        expect(parameter.diagGgnExactBatch?.shape).toEqual([n, ...shape]);
        const batch = parameter.diagGgnExactBatch!.toArray();
        perSample.forEach((m, s) => expectClose(batch.slice(s * k, (s + 1) * k), diagonal(m), TOLERANCE, `${name} BatchDiagGGNExact[${s}]`));
        expect(parameter.sqrtGgnExact?.shape).toEqual([d, n, ...shape]);
        outerProducts(parameter.sqrtGgnExact!.toArray(), d, n, k).forEach((m, s) =>
          expectClose(m.data, perSample[s]!.data, TOLERANCE, `${name} SqrtGGNExact outer product [${s}]`),
        );
      }
    });
  });
});

describe('BatchNorm in training mode', () => {
  const extensions: readonly [string, () => Extension][] = [
    ['DiagGGNExact', () => new DiagGGNExact()],
    ['DiagGGNMC', () => new DiagGGNMC({ seed: 0 })],
    ['BatchDiagGGNExact', () => new BatchDiagGGNExact()],
    ['BatchDiagGGNMC', () => new BatchDiagGGNMC({ seed: 0 })],
    ['SqrtGGNExact', () => new SqrtGGNExact()],
    ['SqrtGGNMC', () => new SqrtGGNMC({ seed: 0 })],
  ];

  it.each(extensions)('%s refuses the pass before anything is modified, naming the module', (name, make) => {
    const golden = syntheticGoldenCase(cases[4]!, 5, cpu);
    const built = build(golden);
    built.model.train();
    const loss = built.loss.forward(built.model.forward(built.input), built.target);
    expect(() => backpack([make()], () => loss.backward())).toThrow(new RegExp(`^${name} cannot run: BatchNorm1d '1' is in training mode`));
    for (const [, parameter] of built.model.namedParameters()) {
      expect(parameter.grad).toBeUndefined();
      expect(parameter.diagGgnExact ?? parameter.diagGgnMc ?? parameter.diagGgnExactBatch ?? parameter.sqrtGgnExact).toBeUndefined();
    }
  });
});
