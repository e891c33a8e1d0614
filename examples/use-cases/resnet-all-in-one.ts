/**
 * A ResNet for second-order extensions (BackPACK's
 * `use_cases/example_resnet_all_in_one.py`, its second part; the first,
 * a forward pass written by hand, is `first-order-resnet`): built from
 * modules only, the skip connection a `Parallel` of an `Identity` and a
 * convolution branch, summed by its `SumModule`, so that the GGN's square
 * root can pass through every node. One backward pass gives the per-sample
 * gradients and the exact GGN diagonal.
 *
 * (BackPACK's third part converts torchvision's resnet18 with torch.fx; any
 * `Module` whose forward calls modules and ops records as a graph here, so
 * there is nothing to convert.)
 *
 *   pnpm example resnet-all-in-one [--batch-size 32] [--backend cpu]
 */
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Identity,
  Linear,
  Parallel,
  ReLU,
  Sequential,
  backpack,
  formatShape,
  extend,
  sum,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { BatchGrad } from '@backpack-ts/first-order';
import { checkDiagGgnExact, reportDiagGgnCheck, type DiagonalEntry } from '../shared/autograd-diagonal.js';
import { exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** The ResNet: a convolution, then `x + relu(conv(x))`, then a linear classifier. */
export function resnet(backend: Backend, dtype: FloatDType, hidden = 2): Sequential {
  const options = { padding: 1, backend, dtype };
  return new Sequential(
    new Conv2d(1, hidden, 3, options),
    new ReLU(),
    new Parallel(new Identity(), new Sequential(new Conv2d(hidden, hidden, 3, options), new ReLU())),
    new Flatten(),
    new Linear(28 * 28 * hidden, 10, { backend, dtype }),
  );
}

/** What the example computed (the quantities are on the model's parameters). */
export interface ResNetAllInOneResult {
  readonly model: Sequential;
  readonly lossFunction: CrossEntropyLoss;
  readonly images: Tensor;
  readonly labels: Tensor;
  /** DiagGGNExact's entries next to autograd's, as the example printed them. */
  readonly diagonalCheck: readonly DiagonalEntry[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): ResNetAllInOneResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'resnet-all-in-one', batchSize: 32 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(resnet(backend, dtype));
  const lossFunction = extend(new CrossEntropyLoss());

  const loss = lossFunction.forward(model.forward(images), labels);
  backpack([new BatchGrad(), new DiagGGNExact()], () => loss.backward());
  let trace = 0;
  for (const [name, parameter] of model.namedParameters()) {
    trace += sum(parameter.diagGgnExact!).item();
    print(`${name}: gradBatch ${formatShape(parameter.gradBatch!.shape)}, diagGgnExact ${formatShape(parameter.diagGgnExact!.shape)}`);
  }
  print(`Tr(GGN): ${trace.toFixed(6)}`);

  // BackPACK's check: a few diagonal entries by autograd (GGN-vector products with unit vectors).
  const diagonalCheck = checkDiagGgnExact(model, lossFunction, images, labels);
  reportDiagGgnCheck('resnet-all-in-one', diagonalCheck, print);
  return { model, lossFunction, images, labels, diagonalCheck };
}

runIfMain(import.meta.url, main);
