/**
 * Memory: nothing leaks. After a warm-up (which fills the backend's caches:
 * scalar constants and window index tables), `tf.memory().numTensors`, the
 * bytes tfjs holds and the backend's live-handle count stay exactly flat over
 * 1,000 extended backward passes of a small CNN: each pass runs
 * inside core's `tidy`, with one extension group in turn (first order, GGN
 * exact and Monte-Carlo, Hessian diagonals, Kronecker factors), so every
 * extension's quantities are created and, on the next pass, replaced and
 * disposed by core. About 8 ms a pass on wasm here (2 cores): 1,000 passes in
 * well under 10 s.
 */
import * as tf from '@tensorflow/tfjs';
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Linear,
  MaxPool2d,
  Sequential,
  Sigmoid,
  backpack,
  extend,
  tidy,
  type Extension,
} from '@backpack-ts/core';
import { DiagGGNExact, DiagGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import { doubleBackwardStep } from '@backpack-ts/conformance';
import { expect, it } from 'vitest';
import { fromTf, loadTfjsBackend, toTf } from '../src/index.js';

const PASSES = 1000;
const WARM_UP = 8;

it(`tf.memory().numTensors is flat over ${PASSES} extended backward passes after warm-up`, async () => {
  const backend = await loadTfjsBackend();
  const options = { backend, dtype: 'float32' as const };
  const cnn = extend(
    new Sequential(new Conv2d(1, 3, 3, { padding: 1, ...options }), new Sigmoid(), new MaxPool2d(2), new Flatten(), new Linear(48, 5, options)),
  );
  const lossFunction = extend(new CrossEntropyLoss());

  const inputs = tf.randomNormal([6, 1, 8, 8], 0, 1, 'float32', 0);
  const labels = tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32');
  const x = fromTf(inputs);
  const y = fromTf(labels);

  const groups: { model: Sequential; extensions: () => Extension[] }[] = [
    { model: cnn, extensions: () => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()] },
    { model: cnn, extensions: () => [new DiagGGNExact(), new DiagGGNMC({ seed: 1 })] },
    { model: cnn, extensions: () => [new DiagHessian(), new BatchDiagHessian()] },
    { model: cnn, extensions: () => [new KFAC({ seed: 2 }), new KFLR(), new KFRA()] },
  ];
  const pass = (i: number): void => {
    const { model, extensions } = groups[i % groups.length]!;
    tidy(() => {
      const loss = lossFunction.forward(model.forward(x), y);
      backpack(extensions(), () => loss.backward());
      // A caller reading a result as a tf.Tensor and disposing it leaves nothing behind either.
      const grad = toTf(model.parameters()[0]!.grad!);
      grad.dispose();
    });
  };

  for (let i = 0; i < WARM_UP; i++) pass(i);
  const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, live: backend.liveCount() };
  let [minTensors, maxTensors] = [before.tensors, before.tensors];
  const started = performance.now();
  for (let i = 0; i < PASSES; i++) {
    pass(i);
    const n = tf.memory().numTensors;
    minTensors = Math.min(minTensors, n);
    maxTensors = Math.max(maxTensors, n);
  }
  const msPerPass = (performance.now() - started) / PASSES;
  const after = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, live: backend.liveCount() };
  console.log(
    `${PASSES} passes on ${backend.name}: ${msPerPass.toFixed(1)} ms/pass; numTensors ${before.tensors} -> ${after.tensors} ` +
      `(min ${minTensors}, max ${maxTensors}), numBytes ${before.bytes} -> ${after.bytes}, liveCount ${before.live} -> ${after.live}`,
  );
  expect([minTensors, maxTensors, after.tensors]).toEqual([before.tensors, before.tensors, before.tensors]);
  expect(after.bytes).toBe(before.bytes);
  expect(after.live).toBe(before.live);

  // What is left is the caller's: parameters, results stored on them, x and y, caches.
  inputs.dispose();
  labels.dispose();
  x.dispose();
  y.dispose();
}, 180_000); // ~9 s alone; leave room for a loaded CI machine running every package at once

/**
 * The ownership rule of backward passes (see the backward engine): each step
 * runs in tidy and ends with zeroGrad(): a second pass through a retained
 * graph; a gradient penalty by grad() with createGraph; a backward with
 * createGraph whose .grad is differentiated again. tfjs's tensors and the
 * backend's handles stay exactly flat.
 */
it(`tf.memory().numTensors is flat over ${PASSES} steps with retainGraph and createGraph`, async () => {
  const backend = await loadTfjsBackend();
  const options = { backend, dtype: 'float32' as const };
  const model = new Sequential(new Conv2d(1, 2, 3, { padding: 1, ...options }), new Sigmoid(), new Flatten(), new Linear(32, 3, options));
  const lossFunction = new CrossEntropyLoss();
  const inputs = tf.randomNormal([4, 1, 4, 4], 0, 1, 'float32', 1);
  const labels = tf.tensor1d([0, 1, 2, 0], 'int32');
  const [x, y] = [fromTf(inputs), fromTf(labels)];
  const step = doubleBackwardStep(model, lossFunction, x, y);

  for (let i = 0; i < 12; i++) step(i);
  const before = { tensors: tf.memory().numTensors, live: backend.liveCount() };
  const started = performance.now();
  for (let i = 0; i < PASSES; i++) {
    step(i);
    if (tf.memory().numTensors !== before.tensors || backend.liveCount() !== before.live) {
      throw new Error(`step ${i}: ${tf.memory().numTensors} tfjs tensors, ${backend.liveCount()} live handles; ${before.tensors}, ${before.live} after warm-up`);
    }
  }
  console.log(`${PASSES} steps with retainGraph/createGraph on ${backend.name}: ${((performance.now() - started) / PASSES).toFixed(1)} ms/step`);
  expect(tf.memory().numTensors).toBe(before.tensors);
  inputs.dispose();
  labels.dispose();
  x.dispose();
  y.dispose();
}, 180_000);
