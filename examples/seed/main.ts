/**
 * The seed example, after BackPACK's all-in-one example: a linear classifier
 * on one batch of 512 real MNIST digits, and for each first-order extension
 * (and all four at once), the GGN diagonals (exact and Monte-Carlo together),
 * the Kronecker factors (KFAC, KFLR, KFRA together) and the Hessian diagonal,
 * the shapes of what it stores on the parameters.
 *
 *   pnpm example seed                   # from the repository root: the fastest backend that loads
 *   pnpm example seed --backend cpu     # or onnxruntime, tfjs
 */
import {
  CrossEntropyLoss,
  Flatten,
  Linear,
  Sequential,
  extend,
  type Backend,
  type Extension,
} from '@backpack-ts/core';
import { DiagGGNExact, DiagGGNMC } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import type { ProgressStream } from '@backpack-ts/onnx/cli';
import { withProgress } from '../shared/progress.js';
import { exampleDType, firstOrderRuns, mnistBatch, parseArgs as parseExampleArgs, reportExtensions, runIfMain } from '../shared/report.js';

export { fieldNames } from '../shared/report.js';

export const BATCH_SIZE = 512;

/** One backward pass per row, with these extensions. */
export const runs: readonly (() => Extension[])[] = [
  ...firstOrderRuns,
  () => [new DiagGGNMC({ seed: 0 }), new DiagGGNExact()],
  () => [new KFAC({ seed: 0 }), new KFLR(), new KFRA()],
  () => [new DiagHessian()],
];

/** Parses `--backend NAME` / `--backend=NAME` (default: the fastest backend that loads). */
export function parseArgs(args: readonly string[]): { backend: Backend; backendNote: string } {
  const { backend, backendNote } = parseExampleArgs(args, { name: 'seed' });
  return { backend, backendNote };
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
  const { backend, backendNote } = parseArgs(args);
  print(`backend: ${backend.name}${backendNote}`);

  // float64 where the backend has it (tfjs is float32 only).
  const dtype = exampleDType(backend);
  const { images, labels } = mnistBatch(BATCH_SIZE, backend, dtype);
  const model = extend(new Sequential(new Flatten(), new Linear(784, 10, { backend, dtype })));
  const lossFunction = extend(new CrossEntropyLoss());
  withProgress('seed', runs, print, progress, (tracked, printLine) =>
    reportExtensions({ model, lossFunction, input: images, target: labels }, tracked, printLine),
  );
}

runIfMain(import.meta.url, main);
