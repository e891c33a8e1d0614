/** The example of README.md (keep the two in sync), checked to run and to give what it prints. */
import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Generator, Linear, Sequential, Sigmoid, backpack, extend, sum, tensor } from '@backpack-ts/core';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { expect, it } from 'vitest';

it('README example', () => {
  const generator = new Generator(0);
  const model = extend(
    new Sequential(
      new Linear(4, 8, { backend: cpu, generator }),
      new Sigmoid(),
      new Linear(8, 3, { backend: cpu, generator }),
    ),
  );
  const lossFunction = extend(new CrossEntropyLoss());

  const x = generator.normal([5, 4], { backend: cpu });
  const y = tensor([0, 2, 1, 1, 0], [5], { backend: cpu, dtype: 'int32' });

  const loss = lossFunction.forward(model.forward(x), y);
  backpack([new DiagHessian(), new BatchDiagHessian()], () => loss.backward());

  const shapes = model.namedParameters().map(([name, p]) => [name, p.grad!.shape, p.diagH!.shape, p.diagHBatch!.shape]);
  expect(shapes).toEqual([
    ['0.weight', [8, 4], [8, 4], [5, 8, 4]],
    ['0.bias', [8], [8], [5, 8]],
    ['2.weight', [3, 8], [3, 8], [5, 3, 8]],
    ['2.bias', [3], [3], [5, 3]],
  ]);
  for (const p of model.parameters()) {
    const summed = sum(p.diagHBatch!, 0).toArray();
    p.diagH!.toArray().forEach((v, i) => expect(summed[i]).toBeCloseTo(v, 15));
  }
});
