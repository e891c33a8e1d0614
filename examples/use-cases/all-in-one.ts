/**
 * Every extension (BackPACK's `basic_usage/example_all_in_one.py`): a linear
 * classifier `Sequential(Flatten(), Linear(784, 10))` on a batch of MNIST
 * digits, one backward pass per group of extensions in BackPACK's order,
 * printing the shape of every quantity stored on each parameter under
 * BackPACK's field names. (The seed example is the first half of this one.)
 * Last, BackPACK's block-diagonal curvature products: one pass with HMP,
 * GGNMP and PCHMP, whose fields are functions that multiply a batch of V
 * matrices shaped like the parameter by its block; here with V = 1 and 3.
 *
 *   pnpm example all-in-one [--batch-size 512] [--backend cpu]
 */
import { CrossEntropyLoss, Flatten, Generator, Linear, Sequential, assertFloat, backpack, extend, formatShape, type Extension, type Tensor } from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP } from '@backpack-ts/curvmatprod';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import type { ProgressStream } from '@backpack-ts/onnx/cli';
import { LABEL_WIDTH, exampleDType, mnistBatch, parseArgs, reportExtensions, runIfMain } from '../shared/report.js';
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

/** One parameter's V random matrices and their products with its curvature blocks. */
export interface BlockProducts {
  readonly parameter: string;
  /** `[V, ...param]`. */
  readonly vectors: Tensor;
  readonly hmp: Tensor;
  readonly ggnmp: Tensor;
  readonly pchmp: Tensor;
}

/** What the example ran on; each field keeps the quantity of the last pass that computed it. */
export interface AllInOneResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly labels: Tensor;
  /** The block products of the last round (V = 3), per parameter. */
  readonly blockProducts: readonly BlockProducts[];
}

/**
 * One backward pass with HMP, GGNMP and PCHMP, then for V = 1 and V = 3 the
 * products of V random matrices with each parameter's blocks, their shapes
 * printed; returns the last round's.
 */
export function reportBlockProducts(problem: { model: Sequential; lossFunction: CrossEntropyLoss; input: Tensor; target: Tensor }, print: (line: string) => void): BlockProducts[] {
  const { model, lossFunction, input, target } = problem;
  print('');
  print('Extensions: HMP, GGNMP, PCHMP');
  model.zeroGrad();
  const loss = lossFunction.forward(model.forward(input), target);
  backpack([new HMP(), new GGNMP(), new PCHMP()], () => loss.backward());
  const generator = new Generator(4);
  let products: BlockProducts[] = [];
  for (const v of [1, 3]) {
    print(`V = ${v}`);
    products = model.namedParameters().map(([name, parameter]) => {
      const vectors = generator.normal([v, ...parameter.data.shape], { backend: input.backend, dtype: assertFloat('all-in-one', input) });
      const result = { parameter: name, vectors, hmp: parameter.hmp!(vectors), ggnmp: parameter.ggnmp!(vectors), pchmp: parameter.pchmp!(vectors) };
      print(name);
      print('.grad.shape:'.padEnd(LABEL_WIDTH) + formatShape(parameter.grad!.shape));
      for (const [label, value] of [['vec', vectors], ['.hmp(vec)', result.hmp], ['.ggnmp(vec)', result.ggnmp], ['.pchmp(vec)', result.pchmp]] as const) {
        print(`${label}.shape:`.padEnd(LABEL_WIDTH) + formatShape(value.shape));
      }
      return result;
    });
  }
  return products;
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
  const problem = { model, lossFunction, input: images, target: labels };
  withProgress('all-in-one', runs, print, progress, (tracked, printLine) => reportExtensions(problem, tracked, printLine));
  const blockProducts = reportBlockProducts(problem, print);
  return { model, images, labels, blockProducts };
}

runIfMain(import.meta.url, main);
