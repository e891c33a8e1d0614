/**
 * A small convolutional network on real MNIST digits, with every extension:
 *
 *   Conv2d(1, 2, 5) - ReLU - MaxPool2d(2) - Conv2d(2, 4, 5) - ReLU - MaxPool2d(2) - Flatten - Linear(64, 10)
 *
 * (28 x 28 -> 24 x 24 -> 12 x 12 -> 8 x 8 -> 4 x 4), CrossEntropyLoss, float64.
 * For each set of extensions it runs one backward pass and prints the shape
 * of every quantity stored on each parameter, as the seed example does.
 *
 *   pnpm example:cnn                       # from the repository root
 *   pnpm example:cnn --batch-size 8 --backend cpu
 *
 * KFRA is the expensive one: it carries `[D, D]` matrices over each layer's
 * output (D = 1152 after the first convolution) and averages `J_nᵀ M J_n`
 * over the batch through every layer (the whole example runs in about 3 s
 * and 450 MB here).
 */
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  extend,
  type Backend,
  type Extension,
  type FloatDType,
} from '@backpack-ts/core';
import {
  BatchDiagGGNExact,
  BatchDiagGGNMC,
  DiagGGNExact,
  DiagGGNMC,
  SqrtGGNExact,
  SqrtGGNMC,
} from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import type { ProgressStream } from '@backpack-ts/onnx/cli';
import { exampleDType, firstOrderRuns, mnistBatch, parseArgs, reportExtensions, runIfMain } from '../shared/report.js';
import { withProgress } from '../shared/progress.js';

/** Default batch size (`--batch-size` overrides it). */
export const BATCH_SIZE = 16;

/** One backward pass per row, with these extensions: every extension of the four packages. */
export const runs: readonly (() => Extension[])[] = [
  ...firstOrderRuns,
  () => [new DiagGGNExact(), new DiagGGNMC({ seed: 0 }), new BatchDiagGGNExact(), new BatchDiagGGNMC({ seed: 1 })],
  () => [new SqrtGGNExact(), new SqrtGGNMC({ seed: 2, mcSamples: 3 })],
  () => [new KFAC({ seed: 3 }), new KFLR(), new KFRA()],
  () => [new DiagHessian(), new BatchDiagHessian()],
];

/** The network, initialised from the default generator. */
export function cnn(backend: Backend, dtype: FloatDType): Sequential {
  const options = { backend, dtype };
  return new Sequential(
    new Conv2d(1, 2, 5, options),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(2, 4, 5, options),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(64, 10, options),
  );
}

/**
 * Runs the example, writing its report line by line to `print` and, when
 * `progress` is a terminal, a progress bar of the backward passes to it.
 */
export function main(
  args: readonly string[] = [],
  print: (line: string) => void = console.log,
  progress: ProgressStream = process.stderr,
): void {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'cnn', batchSize: BATCH_SIZE });
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);

  const dtype = exampleDType(backend);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(cnn(backend, dtype));
  model.eval();
  const lossFunction = extend(new CrossEntropyLoss());
  withProgress('cnn', runs, print, progress, (tracked, printLine) =>
    reportExtensions({ model, lossFunction, input: images, target: labels }, tracked, printLine),
  );
}

runIfMain(import.meta.url, main);
