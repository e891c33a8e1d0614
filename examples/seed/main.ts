/**
 * The seed example, after BackPACK's all-in-one example: a linear classifier
 * on one batch of 512 real MNIST digits, and for each first-order extension
 * (and all four at once), the GGN diagonals (exact and Monte-Carlo together),
 * the Kronecker factors (KFAC, KFLR, KFRA together) and the Hessian diagonal,
 * the shapes of what it stores on the parameters.
 *
 *   pnpm example                  # from the repository root
 *   pnpm example --backend cpu
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Flatten,
  Linear,
  Sequential,
  backpack,
  extend,
  formatShape,
  type Backend,
  type Extension,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import { DiagGGNExact, DiagGGNMC } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import { pathToFileURL } from 'node:url';
import { loadMnistBatch } from './mnist-batch.js';

export const BATCH_SIZE = 512;

/** Backends selectable with `--backend`. */
const backends: Readonly<Record<string, Backend>> = { cpu };

/** One backward pass per row, with these extensions. */
export const runs: readonly (() => Extension[])[] = [
  () => [new BatchGrad()],
  () => [new Variance()],
  () => [new SumGradSquared()],
  () => [new BatchL2Grad()],
  () => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()],
  () => [new DiagGGNMC({ seed: 0 }), new DiagGGNExact()],
  () => [new KFAC({ seed: 0 }), new KFLR(), new KFRA()],
  () => [new DiagHessian()],
];

/** BackPACK's (snake_case) field name for each of this project's savefields. */
export const fieldNames: Readonly<Record<string, string>> = {
  gradBatch: 'grad_batch',
  variance: 'variance',
  sumGradSquared: 'sum_grad_squared',
  batchL2: 'batch_l2',
  diagGgnExact: 'diag_ggn_exact',
  diagGgnMc: 'diag_ggn_mc',
  kfac: 'kfac',
  kflr: 'kflr',
  kfra: 'kfra',
  diagH: 'diag_h',
};

/** Column where the shapes start. */
const LABEL_WIDTH = 26;

/** `.field.shape:  [..]` for a tensor, `.field (shapes):  [[..], [..]]` for a list of Kronecker factors. */
function shapeLine(field: string, value: Quantity | undefined): string {
  if (Array.isArray(value)) {
    const shapes = (value as readonly Tensor[]).map((factor) => formatShape(factor.shape));
    return `.${field} (shapes):`.padEnd(LABEL_WIDTH) + `[${shapes.join(', ')}]`;
  }
  const shape = value === undefined ? 'not computed' : formatShape((value as Tensor).shape);
  return `.${field}.shape:`.padEnd(LABEL_WIDTH) + shape;
}

const USAGE = `usage: seed [--backend ${Object.keys(backends).join('|')}]`;

/** Parses `--backend NAME` / `--backend=NAME` (default cpu). */
export function parseArgs(args: readonly string[]): { backend: Backend } {
  let name = 'cpu';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') continue;
    if (arg === '--backend') name = args[++i] ?? '';
    else if (arg.startsWith('--backend=')) name = arg.slice('--backend='.length);
    else throw new Error(`unknown argument '${arg}'\n${USAGE}`);
  }
  const backend = backends[name];
  if (backend === undefined) {
    throw new Error(`backend '${name}' is not available (available: ${Object.keys(backends).join(', ')})\n${USAGE}`);
  }
  return { backend };
}

/** Runs the example, writing its report line by line to `print`. */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): void {
  const { backend } = parseArgs(args);
  print(`backend: ${backend.name}`);

  const dtype = 'float64';
  const { images, labels } = loadMnistBatch({ batchSize: BATCH_SIZE, backend, dtype });
  const model = extend(new Sequential(new Flatten(), new Linear(784, 10, { backend, dtype })));
  const lossFunction = extend(new CrossEntropyLoss());

  for (const makeExtensions of runs) {
    const extensions = makeExtensions();
    print('');
    print(`Extension${extensions.length > 1 ? 's' : ''}: ${extensions.map((e) => e.name).join(', ')}`);
    model.zeroGrad();
    const loss = lossFunction.forward(model.forward(images), labels);
    backpack(extensions, () => loss.backward());
    for (const [name, parameter] of model.namedParameters()) {
      const fields = parameter as unknown as Record<string, Quantity | undefined>;
      print(name);
      print(shapeLine('grad', parameter.grad));
      for (const { savefield } of extensions) print(shapeLine(fieldNames[savefield] ?? savefield, fields[savefield]));
    }
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
