/**
 * Every extension (BackPACK's `basic_usage/example_all_in_one.py`): a linear
 * classifier `Sequential(Flatten(), Linear(784, 10))` on a batch of MNIST
 * digits, one backward pass per group of extensions in BackPACK's order,
 * printing the shape of every quantity stored on each parameter under
 * BackPACK's field names. (The seed example is the first half of this one.)
 * Last, BackPACK's block-diagonal curvature products HMP, GGNMP and PCHMP,
 * whose fields are functions that multiply a batch of V matrices shaped
 * like the parameter by its block; here with V = 1 and 3.
 *
 *   pnpm example all-in-one [--batch-size 512] [--backend cpu]
 */
import { CrossEntropyLoss, Flatten, Generator, Linear, Sequential, assertFloat, backpack, extend, formatShape, type Extension, type ProductQuantity, type Tensor } from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP } from '@backpack-ts/curvmatprod';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import type { ProgressStream } from '@backpack-ts/onnx/cli';
import { LABEL_WIDTH, exampleDType, firstOrderRuns, mnistBatch, parseArgs, reportExtensions, runIfMain } from '../shared/report.js';
import { withProgress } from '../shared/progress.js';

declare module '@backpack-ts/core' {
  interface Parameter {
    /** The products of `PCHMP({ modify: 'abs', savefield: 'pchmpAbs' })`, next to the clip PCHMP's `pchmp`. */
    pchmpAbs?: ProductQuantity;
  }
}

/** One backward pass per row, BackPACK's groups in its order (Monte-Carlo ones with one sample, seeded). */
export const runs: readonly (() => Extension[])[] = [
  ...firstOrderRuns,
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
  /** PCHMP with `modify: 'clip'` and `'abs'`. */
  readonly pchmpClip: Tensor;
  readonly pchmpAbs: Tensor;
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
 * BackPACK's last section: the block products of HMP, GGNMP and PCHMP
 * (`'clip'` and `'abs'`) with V = 1 and V = 3 random matrices per
 * parameter, their shapes printed; returns the last round's. One backward
 * pass computes all four: the `'abs'` PCHMP stores its products under the
 * savefield `pchmpAbs`, next to the `'clip'` one's `param.pchmp`.
 */
export function reportBlockProducts(problem: { model: Sequential; lossFunction: CrossEntropyLoss; input: Tensor; target: Tensor }, print: (line: string) => void): BlockProducts[] {
  const { model, lossFunction, input, target } = problem;
  const generator = new Generator(4);
  const rounds = [1, 3].map((v) =>
    model.namedParameters().map(([name, parameter]) => ({ name, parameter, vectors: generator.normal([v, ...parameter.data.shape], { backend: input.backend, dtype: assertFloat('all-in-one', input) }) })),
  );
  model.zeroGrad();
  const loss = lossFunction.forward(model.forward(input), target);
  backpack([new HMP(), new GGNMP(), new PCHMP({ modify: 'clip' }), new PCHMP({ modify: 'abs', savefield: 'pchmpAbs' })], () => loss.backward());
  const products = rounds.map((round) =>
    round.map(({ name, parameter, vectors }): BlockProducts => ({
      parameter: name,
      vectors,
      hmp: parameter.hmp!(vectors),
      ggnmp: parameter.ggnmp!(vectors),
      pchmpClip: parameter.pchmp!(vectors),
      pchmpAbs: parameter.pchmpAbs!(vectors),
    })),
  );

  print('');
  print("Extensions: HMP, GGNMP, PCHMP({ modify: 'clip' }), PCHMP({ modify: 'abs', savefield: 'pchmpAbs' })");
  products.forEach((round) => {
    print(`V = ${round[0]!.vectors.shape[0]}`);
    for (const { parameter, vectors, hmp, ggnmp, pchmpClip, pchmpAbs } of round) {
      print(parameter);
      const shapes = [['vec', vectors], ['.hmp(vec)', hmp], ['.ggnmp(vec)', ggnmp], ['.pchmp_clip(vec)', pchmpClip], ['.pchmp_abs(vec)', pchmpAbs]] as const;
      for (const [label, value] of shapes) print(`${label}.shape:`.padEnd(LABEL_WIDTH) + formatShape(value.shape));
    }
  });
  return products.at(-1)!;
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
