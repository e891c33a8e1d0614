/**
 * What the optimiser use cases (`cg-newton`, `diag-ggn-optimizer`) share:
 * the sigmoid MLP they train, training a fresh network with one optimiser
 * after another, from the same initial weights on the same MNIST batches,
 * and the line each run prints.
 */
import {
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  Sequential,
  Sigmoid,
  backpack,
  extend,
  noGrad,
  tidy,
  type Backend,
  type Extension,
  type FloatDType,
  type Module,
} from '@backpack-ts/core';
import type { Optimizer } from '@backpack-ts/optim';
import { mnistBatch } from './report.js';

/**
 * The MLP both train: 784-hidden-hidden-10 with sigmoids, whose layers'
 * gradients shrink by orders of magnitude towards the input; the same
 * initial weights at every call (seed 0).
 */
export function sigmoidMlp(backend: Backend, dtype: FloatDType, hidden: number): Sequential {
  const options = { backend, dtype, generator: new Generator(0) };
  return new Sequential(new Flatten(), new Linear(784, hidden, options), new Sigmoid(), new Linear(hidden, hidden, options), new Sigmoid(), new Linear(hidden, 10, options));
}

/** An optimiser to compare: its label, how to make it, and the extension whose quantity its steps read (none for SGD). */
export interface Contender {
  readonly label: string;
  readonly makeOptimizer: (model: Module) => Optimizer;
  /** A new extension for each backward pass. */
  readonly extension?: () => Extension;
}

/** How to train: the network (the same initial weights at every call) and the batches. */
export interface TrainingSettings {
  readonly makeModel: () => Module;
  readonly backend: Backend;
  readonly dtype: FloatDType;
  readonly batchSize: number;
  readonly steps: number;
}

/** One contender's training: each step's minibatch loss (before its step), and the loss on held-out digits after. */
export interface TrainingRun {
  readonly label: string;
  readonly losses: readonly number[];
  readonly heldOutLoss: number;
}

/** Digits no step trains on: the 256 after the steps' batches in the seeded order. */
const HELD_OUT = 256;

/**
 * Trains a fresh network for `steps` steps with a mean cross-entropy, one
 * batch of consecutive MNIST digits per step; each step's backward pass
 * runs the contender's extension, then the optimiser steps.
 */
export function train(contender: Contender, settings: TrainingSettings): TrainingRun {
  const { makeModel, backend, dtype, batchSize, steps } = settings;
  const model = extend(makeModel());
  const lossFunction = extend(new CrossEntropyLoss());
  const optimizer = contender.makeOptimizer(model);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { images, labels } = mnistBatch(batchSize, backend, dtype, { offset: step * batchSize });
    tidy(() => {
      const loss = lossFunction.forward(model.forward(images), labels);
      losses.push(loss.item());
      if (contender.extension === undefined) loss.backward();
      else backpack(contender.extension(), () => loss.backward());
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  const heldOut = mnistBatch(HELD_OUT, backend, dtype, { offset: steps * batchSize });
  const heldOutLoss = noGrad(() => tidy(() => lossFunction.forward(model.forward(heldOut.images), heldOut.labels).item()));
  return { label: contender.label, losses, heldOutLoss };
}

/** Trains each contender in turn, printing one line each: a few minibatch losses, the held-out loss, the time. */
export function compare(contenders: readonly Contender[], settings: TrainingSettings, print: (line: string) => void): TrainingRun[] {
  const width = Math.max(...contenders.map((c) => c.label.length)) + 1;
  return contenders.map((contender) => {
    const start = performance.now();
    const run = train(contender, settings);
    const every = Math.max(1, Math.floor(settings.steps / 5));
    const shown = run.losses.flatMap((loss, step) => (step % every === 0 ? [loss.toFixed(3)] : []));
    print(`${run.label.padEnd(width)} minibatch loss ${shown.join(' ')} ... held-out loss ${run.heldOutLoss.toFixed(3)} (${(performance.now() - start).toFixed(0)} ms)`);
    return run;
  });
}
