/**
 * Mini-batch sub-sampling (BackPACK's `use_cases/example_subsampling.py`):
 * per-sample gradients of a few chosen samples only. The naive way computes
 * them for the whole batch and picks the rows; `BatchGrad({ subsampling })`
 * computes only those samples, in the same backward pass as `.grad`.
 *
 *   pnpm example subsampling [--batch-size 128] [--backend cpu]
 */
import { CrossEntropyLoss, Flatten, Linear, Sequential, backpack, extend, formatShape, selectIndices, type Tensor } from '@backpack-ts/core';
import { BatchGrad } from '@backpack-ts/first-order';
import { exampleDType, maxAbsDifference, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** The samples BackPACK's example picks (those inside the batch). */
export const SUBSAMPLING = [0, 1, 13, 42];

/** What the example computed: per parameter (in order), the naive and the sub-sampled per-sample gradients. */
export interface SubsamplingResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly labels: Tensor;
  readonly subsampling: readonly number[];
  readonly naive: readonly Tensor[];
  readonly efficient: readonly Tensor[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): SubsamplingResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'subsampling', batchSize: 128 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(new Sequential(new Flatten(), new Linear(784, 10, { backend, dtype })));
  const lossFunction = extend(new CrossEntropyLoss());
  const subsampling = SUBSAMPLING.filter((n) => n < batchSize);
  print(`selected samples: ${subsampling.join(', ')}`);

  // Naive: every sample's gradient, then the selected rows.
  let loss = lossFunction.forward(model.forward(images), labels);
  backpack(new BatchGrad(), () => loss.backward());
  const naive = model.parameters().map((p) => selectIndices(p.gradBatch!, 0, subsampling));

  // Efficient: only the selected samples are computed.
  model.zeroGrad();
  loss = lossFunction.forward(model.forward(images), labels);
  backpack(new BatchGrad({ subsampling }), () => loss.backward());
  const efficient = model.parameters().map((p) => p.gradBatch!);

  for (const [i, [name, parameter]] of model.namedParameters().entries()) {
    print(`${name}: gradBatch ${formatShape(parameter.gradBatch!.shape)}, largest difference to the naive rows ${maxAbsDifference(naive[i]!, efficient[i]!).toExponential(2)}`);
  }
  return { model, images, labels, subsampling, naive, efficient };
}

runIfMain(import.meta.url, main);
