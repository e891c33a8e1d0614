/**
 * Recurrent networks (BackPACK's `use_cases/example_rnn.py`): an LSTM built
 * from modules only, so that second-order extensions pass through it. Two
 * stacked `LSTM`s (batch first), each followed by `ReduceTuple(0)` (BackPACK's
 * module that picks the output from PyTorch's `(output, state)` tuple),
 * dropout (inactive: evaluation mode), a linear read-out per time step, and
 * `Permute(0, 2, 1)` to cross-entropy's `[N, C, T]` layout. As in BackPACK's
 * example, the redundant input-hidden biases are zeroed and frozen.
 *
 * BackPACK reads characters of War and Peace; here each MNIST digit is a
 * sequence of its pixel rows (28 features per step, the middle `--rows`
 * rows), and the network guesses the digit after every row. One backward
 * pass gives per-sample gradients (BatchGrad) and the exact GGN diagonal
 * (its square root has 10 columns per time step, 280 per sample), with
 * BackPACK's 64 hidden units by default.
 *
 *   pnpm example rnn [--batch-size 8] [--rows 28] [--hidden 64] [--backend cpu]
 */
import {
  CrossEntropyLoss,
  Dropout,
  LSTM,
  Linear,
  Generator,
  Permute,
  ReduceTuple,
  Sequential,
  backpack,
  broadcastTo,
  extend,
  formatShape,
  reshape,
  slice,
  sum,
  zerosLike,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { BatchGrad } from '@backpack-ts/first-order';
import { checkDiagGgnExact, reportDiagGgnCheck, type DiagonalEntry } from '../shared/autograd-diagonal.js';
import { exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** The recurrent classifier of sequences `[N, T, 28]`: `[N, 10, T]` logits, in evaluation mode, input-hidden biases frozen at zero. */
export function recurrentClassifier(backend: Backend, dtype: FloatDType, hidden: number): Sequential {
  const options = { backend, dtype, generator: new Generator(0), batchFirst: true };
  const model = new Sequential(
    new LSTM(28, hidden, options),
    new ReduceTuple(0),
    new Dropout(0.36),
    new LSTM(hidden, hidden, options),
    new ReduceTuple(0),
    new Dropout(0.2),
    new Linear(hidden, 10, options),
    new Permute([0, 2, 1]),
  ).eval();
  for (const [name, parameter] of model.namedParameters()) {
    if (!name.includes('bias_ih')) continue;
    // b_ih and b_hh are added together: one of them is redundant.
    parameter.data = zerosLike(parameter.data);
    parameter.requiresGrad = false;
  }
  return model;
}

/** `batchSize` digits as sequences of their middle `rows` pixel rows, `[N, rows, 28]`, and each label repeated per row, `[N, rows]`. */
export function digitSequences(batchSize: number, rows: number, backend: Backend, dtype: FloatDType): { sequences: Tensor; targets: Tensor } {
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const first = Math.floor((28 - rows) / 2);
  const sequences = slice(reshape(images, [batchSize, 28, 28]), [0, first, 0], [batchSize, rows, 28]);
  const targets = broadcastTo(reshape(labels, [batchSize, 1]), [batchSize, rows]);
  return { sequences, targets };
}

/** What the example computed (the quantities are on the model's parameters). */
export interface RnnResult {
  readonly model: Sequential;
  readonly lossFunction: CrossEntropyLoss;
  readonly sequences: Tensor;
  readonly targets: Tensor;
  /** DiagGGNExact's entries next to autograd's, as the example printed them. */
  readonly diagonalCheck: readonly DiagonalEntry[];
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): RnnResult {
  const { backend, backendNote, batchSize, integers } = parseArgs(args, { name: 'rnn', batchSize: 8, integers: { rows: 28, hidden: 64 } });
  const [rows, hidden] = [Math.min(integers['rows']!, 28), integers['hidden']!];
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}, time steps (rows): ${rows}, hidden units: ${hidden}`);
  const { sequences, targets } = digitSequences(batchSize, rows, backend, dtype);
  const model = extend(recurrentClassifier(backend, dtype, hidden));
  const lossFunction = extend(new CrossEntropyLoss());

  const loss = lossFunction.forward(model.forward(sequences), targets);
  backpack([new BatchGrad(), new DiagGGNExact()], () => loss.backward());
  let trace = 0;
  for (const [name, parameter] of model.namedParameters()) {
    if (!parameter.requiresGrad) {
      print(`${name} ${formatShape(parameter.data.shape)}: frozen`);
      continue;
    }
    trace += sum(parameter.diagGgnExact!).item();
    print(`${name} ${formatShape(parameter.data.shape)}: gradBatch ${formatShape(parameter.gradBatch!.shape)}, diagGgnExact ${formatShape(parameter.diagGgnExact!.shape)}`);
  }
  print(`loss ${loss.item().toFixed(4)}, Tr(GGN) ${trace.toFixed(6)}`);

  // BackPACK's check: a few diagonal entries by autograd (GGN-vector products with unit vectors).
  const diagonalCheck = checkDiagGgnExact(model, lossFunction, sequences, targets);
  reportDiagGgnCheck('rnn', diagonalCheck, print);
  return { model, lossFunction, sequences, targets, diagonalCheck };
}

runIfMain(import.meta.url, main);
