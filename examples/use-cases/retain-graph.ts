/**
 * Several backward passes through one graph (BackPACK's
 * `use_cases/example_retain_graph.py`): the GGN diagonal of an
 * auto-encoder's reconstruction error. Its cost grows with the output size
 * M (here 784 pixels), since the loss Hessian's square root has M columns
 * per sample. Split the output into chunks of S entries: the mean squared
 * error of a chunk (a `Slicing` module picks it) has an S-column square
 * root, and the chunks' GGN diagonals, averaged, are the whole one. One
 * forward pass, then one backward pass per chunk with `retainGraph`.
 *
 *   pnpm example retain-graph [--batch-size 5] [--hidden 10] [--max-chunks 49] [--backend cpu]
 */
import {
  ConvTranspose2d,
  Conv2d,
  Flatten,
  Generator,
  MSELoss,
  Sequential,
  Sigmoid,
  Slicing,
  add,
  backpack,
  clone,
  extend,
  flatten,
  mul,
  slice,
  zerosLike,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { exampleDType, maxAbsDifference, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** The chunk counts the example compares (each divides 784). */
export const CHUNKS = [1, 4, 16, 49];

/** The auto-encoder: a 3 x 3 convolution to `hidden` channels, Sigmoid, a transposed convolution back, flattened to 784. */
export function autoEncoder(backend: Backend, dtype: FloatDType, hidden = 10): Sequential {
  const options = { backend, dtype, generator: new Generator(0) };
  const encoder = new Sequential(new Conv2d(1, hidden, 3, options), new Sigmoid());
  const decoder = new Sequential(new ConvTranspose2d(hidden, 1, 3, options), new Flatten());
  return new Sequential(encoder, decoder);
}

/** The GGN diagonal of the mean squared reconstruction error in one backward pass, one tensor per parameter. */
export function diagGgnOnePass(model: Sequential, images: Tensor): Tensor[] {
  const loss = extend(new MSELoss()).forward(model.forward(images), flatten(images, 1));
  backpack(new DiagGGNExact(), () => loss.backward());
  return model.parameters().map((p) => p.diagGgnExact!);
}

/**
 * The same in `numChunks` backward passes through one forward pass, each
 * on the error of a chunk of the output; `onChunk` sees each chunk's
 * diagonals (the chunk's own GGN diagonal, before averaging).
 */
export function diagGgnMultiplePasses(model: Sequential, images: Tensor, numChunks: number, onChunk?: (chunk: number, diagonals: readonly Tensor[]) => void): Tensor[] {
  const reconstruction = model.forward(images);
  const target = flatten(images, 1);
  const [n, outputs] = reconstruction.shape as [number, number];
  if (reconstruction.rank !== 2) throw new RangeError(`retain-graph: the model's output must be [N, M], got rank ${reconstruction.rank}`);
  if (outputs % numChunks !== 0) throw new RangeError(`retain-graph: ${numChunks} chunks do not divide the output size ${outputs}`);
  const size = outputs / numChunks;
  const lossFunction = extend(new MSELoss());
  let sums = model.parameters().map((p) => zerosLike(p.data));
  for (let chunk = 0; chunk < numChunks; chunk++) {
    const slicing = extend(new Slicing([{}, { start: chunk * size, stop: (chunk + 1) * size }]));
    const error = lossFunction.forward(slicing.forward(reconstruction), slice(target, [0, chunk * size], [n, size]));
    backpack(new DiagGGNExact(), () => error.backward({ retainGraph: true }));
    const diagonals = model.parameters().map((p) => p.diagGgnExact!);
    onChunk?.(chunk, diagonals);
    sums = sums.map((total, i) => add(total, diagonals[i]!));
  }
  // Each chunk's mean runs over S = M / numChunks entries, the whole loss's over M.
  return sums.map((total) => mul(total, 1 / numChunks));
}

/** What the example computed: the one-pass diagonals and, per chunk count, the chunked ones. */
export interface RetainGraphResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly onePass: readonly Tensor[];
  readonly chunked: ReadonlyMap<number, readonly Tensor[]>;
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): RetainGraphResult {
  const { backend, backendNote, batchSize, integers } = parseArgs(args, { name: 'retain-graph', batchSize: 5, integers: { hidden: 10, 'max-chunks': 49 } });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}, hidden channels: ${integers['hidden']}`);
  const { images } = mnistBatch(batchSize, backend, dtype);
  const model = extend(autoEncoder(backend, dtype, integers['hidden']));

  let start = performance.now();
  const onePass = diagGgnOnePass(model, images).map(clone); // copies: the next passes replace diagGgnExact
  print(`GGN diagonal in one backward pass: ${(performance.now() - start).toFixed(0)} ms (output size ${images.size / batchSize})`);
  const chunked = new Map<number, readonly Tensor[]>();
  for (const numChunks of CHUNKS.filter((count) => count <= integers['max-chunks']!)) {
    start = performance.now();
    const diagonals = diagGgnMultiplePasses(model, images, numChunks);
    const worst = Math.max(...diagonals.map((d, i) => maxAbsDifference(d, onePass[i]!)));
    print(`GGN diagonal in ${String(numChunks).padStart(2)} backward passes: ${(performance.now() - start).toFixed(0)} ms, largest difference to one pass ${worst.toExponential(2)}`);
    chunked.set(numChunks, diagonals);
  }
  return { model, images, onePass, chunked };
}

runIfMain(import.meta.url, main);
