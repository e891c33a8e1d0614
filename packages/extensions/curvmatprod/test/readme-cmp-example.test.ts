/**
 * The README's curvature-matrix-product example (the ```ts block that uses
 * HMP) runs as written, and the blocks it prints are checked against dense
 * matrices rebuilt here on the same model and data (the example's seed):
 * the Hessian by double backward, the GGN as `Jᵀ H_loss J`, and the
 * positive-curvature Hessian by its recursion with eigen-modified residuals
 * (clipped and absolute, from one pass with the savefield `pchmpAbs`).
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { CrossEntropyLoss, Generator, Linear, Sigmoid, tensor, type Tensor } from '@backpack-ts/core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { denseHessian, denseJacobian, densePositiveCurvature, expectDenseClose, sandwich } from './helpers/dense-curvature.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example prints the bias blocks of the Hessian, the GGN and the positive-curvature Hessian', async () => {
  const example = markdownCodeBlocks(join(packageDir, 'README.md')).find((block) => block.includes('new HMP('));
  expect(example).toBeDefined();
  const printed = new Map((await runModuleCapturingLogs(example!, join(packageDir, 'test'))).map(([label, values]) => [label as string, Array.from(values as ArrayLike<number>)]));
  expect([...printed.keys()]).toEqual(['hmp', 'ggnmp', 'pchmp', 'pchmpAbs']);

  // The example's model and data, from its seed and in its order of draws.
  const generator = new Generator(0);
  const layers = [new Linear(3, 4, { backend: cpu, generator }), new Sigmoid(), new Linear(4, 2, { backend: cpu, generator })];
  const x = generator.normal([5, 3], { backend: cpu });
  const y = tensor([0, 1, 1, 0, 1], [5], { backend: cpu, dtype: 'int32' });
  const z: Tensor[] = [x];
  for (const layer of layers) z.push(layer.forward(z[z.length - 1]!));
  const loss = new CrossEntropyLoss().forward(z[3]!, y);
  const bias = layers[0]!.ownTrainableParameters()[1]![1];

  const flat = (rows: number[][]) => rows.flat();
  const hessian = denseHessian(loss, bias.data);
  const ggn = sandwich(denseJacobian(z[3]!, bias.data), denseHessian(loss, z[3]!));
  const clipped = densePositiveCurvature(layers, z, loss, (lambda) => Math.max(lambda, 0)).get(bias)!;
  const absolute = densePositiveCurvature(layers, z, loss, Math.abs).get(bias)!;
  expectDenseClose(printed.get('hmp')!, flat(hessian), 1e-10, 'hmp');
  expectDenseClose(printed.get('ggnmp')!, flat(ggn), 1e-10, 'ggnmp');
  expectDenseClose(printed.get('pchmp')!, flat(clipped), 1e-10, 'pchmp');
  expectDenseClose(printed.get('pchmpAbs')!, flat(absolute), 1e-10, 'pchmpAbs');
  // The four differ here (a Sigmoid between the layers): the example shows four different blocks.
  expect(Math.abs(hessian[0]![0]! - ggn[0]![0]!)).toBeGreaterThan(1e-6);
  expect(Math.abs(absolute[0]![0]! - hessian[0]![0]!)).toBeGreaterThan(1e-6);
  expect(Math.abs(absolute[0]![0]! - clipped[0]![0]!)).toBeGreaterThan(1e-6);
});
