/**
 * Every loss's Hessian square roots and Hessian sum, on predictions of every
 * supported shape, against the Hessian by finite differences of its gradient
 * (itself checked against a direct computation in finite-differences.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Generator,
  Linear,
  MSELoss,
  extend,
  type GraphNode,
  type LossModule,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { expectClose } from './helpers/close.js';
import { tensorJacobian } from './helpers/finite-differences.js';
import { randomTensor, t } from './helpers/tensors.js';

const FD_RTOL = 1e-7;

interface LossCase {
  readonly name: string;
  readonly make: (reduction: Reduction) => LossModule;
  readonly prediction: () => Tensor;
  readonly target: () => Tensor;
}

const cases: LossCase[] = [
  { name: 'CrossEntropyLoss [N, C]', make: (r) => new CrossEntropyLoss(r), prediction: () => randomTensor([3, 4], 1, { low: -2, high: 2 }), target: () => t([1, 3, 0], [3], 'int32') },
  {
    name: 'CrossEntropyLoss [N, C, d1, d2]',
    make: (r) => new CrossEntropyLoss(r),
    prediction: () => randomTensor([2, 3, 2, 2], 2, { low: -2, high: 2 }),
    target: () => t([2, 0, 1, 1, 0, 2, 2, 1], [2, 2, 2], 'int32'),
  },
  { name: 'MSELoss [N, T, k]', make: (r) => new MSELoss(r), prediction: () => randomTensor([2, 3, 2], 3), target: () => randomTensor([2, 3, 2], 4) },
  {
    name: 'BCEWithLogitsLoss [N, 3]',
    make: (r) => new BCEWithLogitsLoss(r),
    prediction: () => randomTensor([4, 3], 5, { low: -2, high: 2 }),
    target: () => randomTensor([4, 3], 6, { low: 0.05, high: 0.95 }),
  },
  {
    name: 'BCEWithLogitsLoss [N, 2, 2]',
    make: (r) => new BCEWithLogitsLoss(r),
    prediction: () => randomTensor([2, 2, 2], 7, { low: -2, high: 2 }),
    target: () => randomTensor([2, 2, 2], 8, { low: 0.05, high: 0.95 }),
  },
];

/** The loss's node on `prediction`, and the per-sample Hessian blocks `[N][D·D]` by finite differences of its gradient. */
function setup(lossCase: LossCase, reduction: Reduction) {
  const loss = extend(lossCase.make(reduction));
  const [prediction, target] = [lossCase.prediction(), lossCase.target()];
  const node: GraphNode = loss.forward(prediction.requiresGrad_(), target).producer!;
  const gradientAt = (x: Tensor) => loss.gradient(loss.forward(x.requiresGrad_(), target).producer!);
  const full = tensorJacobian(gradientAt, prediction);
  const n = prediction.shape[0]!;
  const d = prediction.size / n;
  const blocks = Array.from({ length: n }, (_, s) =>
    Array.from({ length: d * d }, (_, k) => full.data[(s * d + Math.floor(k / d)) * full.cols + s * d + (k % d)]!),
  );
  return { loss, node, n, d, blocks };
}

/** `Σ_v S[v, n] S[v, n]ᵀ` for each sample, from `[V, N, ...]`. */
function outerProducts(sqrt: Tensor, n: number, d: number): number[][] {
  const v = sqrt.shape[0]!;
  const data = sqrt.toArray();
  return Array.from({ length: n }, (_, s) =>
    Array.from({ length: d * d }, (_, k) => {
      let total = 0;
      for (let c = 0; c < v; c++) total += data[(c * n + s) * d + Math.floor(k / d)]! * data[(c * n + s) * d + (k % d)]!;
      return total;
    }),
  );
}

describe.each(cases)('$name', (lossCase) => {
  it.each(['mean', 'sum'] as const)("sqrtHessian and sumHessian give the Hessian (reduction '%s')", (reduction) => {
    const { loss, node, n, d, blocks } = setup(lossCase, reduction);
    const sqrt = loss.sqrtHessian(node);
    expect(sqrt.shape.slice(1)).toEqual(node.input.shape);
    outerProducts(sqrt, n, d).forEach((block, s) => expectClose(block, blocks[s]!, FD_RTOL));
    const summed = blocks.reduce((total, block) => total.map((x, k) => x + block[k]!));
    expectClose(loss.sumHessian(node), summed, FD_RTOL, [d, d]);
  });

  it('sqrtHessianSampled has the Hessian as expectation', () => {
    const { loss, node, n, d, blocks } = setup(lossCase, 'sum');
    const samples = 40000;
    const sampled = loss.sqrtHessianSampled(node, samples, new Generator(3));
    expect(sampled.shape).toEqual([samples, ...node.input.shape]);
    // Monte-Carlo error of the mean ~ 1/√samples relative to the entries.
    outerProducts(sampled, n, d).forEach((block, s) => expectClose(block, blocks[s]!, 0.03));
  });
});

describe("reduction 'none'", () => {
  it('is refused for extensions, naming the extension, the loss and the reason', () => {
    const loss = new CrossEntropyLoss('none');
    expect(() => loss.requireReduced('DiagGGNExact')).toThrow(
      /DiagGGNExact cannot run: CrossEntropyLoss has reduction 'none', which gives one loss per element rather than one objective; extensions need the loss summed or averaged over the batch \(as BackPACK\): use reduction 'sum' or 'mean'/,
    );
    expect(() => new MSELoss('mean').requireReduced('KFAC')).not.toThrow();
    expect(() => new MSELoss('avg' as never)).toThrow(/MSELoss: reduction must be 'mean', 'sum' or 'none', got 'avg'/);
  });
});

describe("reduction 'none' in a backward pass", () => {
  it('gives .grad where the loss has one element (as PyTorch, backward needs one number)', () => {
    const layer = extend(new Linear(2, 3, { backend: cpu, dtype: 'float64', generator: new Generator(1) }));
    const loss = extend(new CrossEntropyLoss('none'));
    const x = randomTensor([1, 2], 1);
    const value = loss.forward(layer.forward(x), t([2], [1], 'int32'));
    expect(value.shape).toEqual([1]);
    value.backward();
    const reference = extend(new CrossEntropyLoss('sum'));
    const again = reference.forward(layer.forward(x), t([2], [1], 'int32'));
    const first = Array.from(layer.weight.grad!.toArray());
    again.backward();
    expectClose(layer.weight.grad!, first.map((g) => 2 * g), 1e-12, [3, 2]);
  });
});
