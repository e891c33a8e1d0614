/**
 * Every extension (BackPACK's `basic_usage/example_all_in_one.py`): a linear
 * classifier `Sequential(Flatten(), Linear(784, 10))` on a batch of MNIST
 * digits, one backward pass per group of extensions in BackPACK's order,
 * printing the shape of every quantity stored on each parameter under
 * BackPACK's field names. (The seed example is the first half of this one;
 * BackPACK's last section, the block curvature products HMP, GGNMP and
 * PCHMP, is left for `@backpack-ts/curvmatprod`.)
 *
 *   pnpm example all-in-one [--batch-size 512] [--backend cpu]
 */
import { CrossEntropyLoss, Flatten, Generator, Linear, Sequential, extend, type Extension, type Tensor } from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import type { ProgressStream } from '@backpack-ts/onnx/cli';
import { exampleDType, mnistBatch, parseArgs, reportExtensions, runIfMain } from '../shared/report.js';
import { withProgress } from '../seed/main.js';

/** One backward pass per row, BackPACK's groups in its order (Monte-Carlo ones with one sample, seeded). */
export const runs: readonly (() => Extension[])[] = [
  () => [new BatchGrad()],
  () => [new Variance()],
  () => [new SumGradSquared()],
  () => [new BatchL2Grad()],
  () => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()],
  () => [new DiagGGNExact(), new DiagGGNMC({ mcSamples: 1, seed: 0 })],
  () => [new BatchDiagGGNExact(), new BatchDiagGGNMC({ mcSamples: 1, seed: 1 })],
  () => [new KFAC({ mcSamples: 1, seed: 2 }), new KFLR(), new KFRA()],
  () => [new DiagHessian(), new BatchDiagHessian()],
  () => [new SqrtGGNExact(), new SqrtGGNMC({ mcSamples: 1, seed: 3 })],
];

/** What the example ran on; each field keeps the quantity of the last pass that computed it. */
export interface AllInOneResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly labels: Tensor;
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(
  args: readonly string[] = [],
  print: (line: string) => void = console.log,
  progress: ProgressStream = process.stderr,
): AllInOneResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'all-in-one', batchSize: 512 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(new Sequential(new Flatten(), new Linear(784, 10, { backend, dtype, generator: new Generator(0) })));
  const lossFunction = extend(new CrossEntropyLoss());
  withProgress('all-in-one', runs, print, progress, (tracked, printLine) =>
    reportExtensions({ model, lossFunction, input: images, target: labels }, tracked, printLine),
  );
  return { model, images, labels };
}

runIfMain(import.meta.url, main);
