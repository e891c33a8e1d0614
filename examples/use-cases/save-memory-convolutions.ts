/**
 * Saving memory in convolutions (BackPACK's
 * `use_cases/example_save_memory_convolutions.py`): BatchGrad's option
 * `convSaveMemory` (BackPACK's `weight_jac_t_save_memory`) builds a
 * convolution weight's per-sample gradients a chunk of samples at a time
 * (about 2²² entries each), bounding the intermediates of one product,
 * instead of for the whole batch at once. Same numbers; which is faster
 * depends on the network and the machine, so the example times both.
 *
 * The network is BackPACK's, with a quarter of its channels (four
 * convolutions with ReLU and max-pooling, then a linear layer).
 *
 *   pnpm example save-memory-convolutions [--batch-size 64] [--backend cpu]
 */
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  backpack,
  clone,
  extend,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { BatchGrad } from '@backpack-ts/first-order';
import { agree, exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** BackPACK's CNN with channels `[32, 64, 16, 8]` (a quarter of `[128, 256, 64, 32]`), initialised from seed 0. */
export function cnn(backend: Backend, dtype: FloatDType): Sequential {
  const options = { backend, dtype, generator: new Generator(0) };
  const [a, b, c, d] = [32, 64, 16, 8];
  return new Sequential(
    new Conv2d(1, a, 3, { padding: 1, ...options }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(a, b, 3, { padding: 1, ...options }),
    new ReLU(),
    new MaxPool2d(3, { padding: 1, stride: 2 }),
    new Conv2d(b, c, 3, { padding: 1, ...options }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(c, d, 3, { padding: 1, ...options }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Flatten(),
    new Linear(d, 10, options),
  );
}

/** Per-sample gradients of every parameter (in order) with BatchGrad in the given memory mode. */
export function individualGradients(model: Sequential, lossFunction: CrossEntropyLoss, images: Tensor, labels: Tensor, convSaveMemory: boolean): Tensor[] {
  model.zeroGrad();
  const loss = lossFunction.forward(model.forward(images), labels);
  backpack(new BatchGrad({ convSaveMemory }), () => loss.backward());
  // Copies: the next pass replaces (and frees) gradBatch.
  return model.parameters().map((p) => clone(p.gradBatch!));
}

/** What the example computed. */
export interface SaveMemoryResult {
  readonly model: Sequential;
  readonly lossFunction: CrossEntropyLoss;
  readonly images: Tensor;
  readonly labels: Tensor;
  /** Per-sample gradients per parameter, with and without `convSaveMemory`. */
  readonly saveMemory: readonly Tensor[];
  readonly normal: readonly Tensor[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): SaveMemoryResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'save-memory-convolutions', batchSize: 64 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(cnn(backend, dtype));
  const lossFunction = extend(new CrossEntropyLoss());

  const timed = (convSaveMemory: boolean) => {
    const start = performance.now();
    const gradients = individualGradients(model, lossFunction, images, labels, convSaveMemory);
    print(`save memory: ${String(convSaveMemory).padEnd(5)}  run time: ${(performance.now() - start).toFixed(0)} ms`);
    return gradients;
  };
  const saveMemory = timed(true);
  const normal = timed(false);
  print('Parameter  | Same individual gradients?');
  for (const [i, [name]] of model.namedParameters().entries()) {
    print(`${name.padEnd(10)} | ${agree(saveMemory[i]!.toArray(), normal[i]!.toArray(), dtype)}`);
  }
  return { model, lossFunction, images, labels, saveMemory, normal };
}

runIfMain(import.meta.url, main);
