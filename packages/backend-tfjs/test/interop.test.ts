/**
 * tfjs interop: tf.Tensor inputs and targets in, quantities out as tf.Tensor,
 * without copying data; lifetimes stay independent; float64 is refused with
 * an error that says tfjs is float32 only.
 */
import * as tf from '@tensorflow/tfjs';
import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Linear, ReLU, Sequential, backpack, extend, setDefaultBackend, tensor, tidy, zeros, type Tensor } from '@backpack-ts/core';
import { BatchGrad } from '@backpack-ts/first-order';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromTf, loadTfjsBackend, tfjs, toTf, type TfjsBackend } from '../src/index.js';

let backend: TfjsBackend;
beforeAll(async () => {
  backend = await loadTfjsBackend();
});

/** tfjs's storage id: two tensors with the same one share their data. */
const dataId = (t: tf.Tensor): unknown => (t as unknown as { dataId: unknown }).dataId;

describe('fromTf / toTf', () => {
  it('wrap without copying, in both directions', () => {
    const t = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const wrapped = fromTf(t);
    expect(wrapped.backend).toBe(tfjs);
    expect(wrapped.shape).toEqual([2, 3]);
    expect(wrapped.dtype).toBe('float32');
    expect(dataId(wrapped.handle as tf.Tensor)).toBe(dataId(t));
    const back = toTf(wrapped);
    expect(dataId(back)).toBe(dataId(t));
    expect(back.shape).toEqual([2, 3]);
    // Independent lifetimes: disposing one side leaves the other readable.
    t.dispose();
    expect(Array.from(wrapped.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    wrapped.dispose();
    expect(Array.from(back.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    back.dispose();
  });

  it('gives a tensor the shape core tracks, also when core reshaped it without a kernel', () => {
    const grad = tidy(() => {
      const model = extend(new Sequential(new Linear(3, 4, { backend, dtype: 'float32' })));
      const loss = extend(new CrossEntropyLoss()).forward(model.forward(fromTf(tf.ones([2, 3]))), fromTf(tf.tensor1d([0, 3], 'int32')));
      loss.backward();
      return model.parameters()[0]!.grad!;
    });
    const t = toTf(grad);
    expect(t.shape).toEqual([4, 3]);
    t.dispose();
    grad.dispose();
  });

  it('int32 targets pass through; bool and float64 are refused with a clear message', () => {
    const labels = fromTf(tf.tensor1d([2, 0, 1], 'int32'));
    expect(labels.dtype).toBe('int32');
    labels.dispose();
    const flags = tf.tensor1d([true, false], 'bool');
    expect(() => fromTf(flags)).toThrow(/dtype bool is not supported/);
    flags.dispose();
    expect(() => tensor([1, 2], [2], { backend, dtype: 'float64' })).toThrow(/float64/);
    expect(() => backend.fromData([1, 2], [2], 'float64')).toThrow(/TensorFlow.js is float32 only/);
    expect(() => zeros([2], { backend })).not.toThrow(); // float32 is this backend's default
  });

  it('copies a tensor of another backend into tfjs (float64 rounded to float32)', () => {
    const onCpu = tensor([0.1, 2, 3], [3], { backend: cpu, dtype: 'float64' });
    const t = toTf(onCpu);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual([Math.fround(0.1), 2, 3]);
    t.dispose();
  });

  it("core's handles survive the caller's tf.tidy; only what the caller makes there is disposed", () => {
    const before = tf.memory().numTensors;
    let kept = undefined as unknown as Tensor;
    tf.tidy(() => {
      kept = fromTf(tf.ones([2, 2])); // the tf.ones is the caller's, disposed by this tf.tidy
    });
    expect(kept.isDisposed).toBe(false);
    expect(Array.from(kept.toArray())).toEqual([1, 1, 1, 1]);
    kept.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe("a tfjs user's quick start (README)", () => {
  it('per-sample gradients of tf.Tensor data, read back as tf.Tensor', async () => {
    const xs = tf.randomNormal([16, 784], 0, 1, 'float32', 7);
    const ys = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5], 'int32');

    // The README's five lines:
    setDefaultBackend(await loadTfjsBackend()); // tfjs-node, else wasm, else cpu
    const model = extend(new Sequential(new Linear(784, 64), new ReLU(), new Linear(64, 10)));
    const loss = extend(new CrossEntropyLoss()).forward(model.forward(fromTf(xs)), fromTf(ys));
    backpack([new BatchGrad()], () => loss.backward());
    const perSample: tf.Tensor = toTf(model.parameters()[0]!.gradBatch!);

    expect(perSample.shape).toEqual([16, 64, 784]);
    expect(dataId(perSample)).toBe(dataId(model.parameters()[0]!.gradBatch!.handle as tf.Tensor));
    // The per-sample gradients (of the mean loss) add up to the gradient.
    const total = tf.sum(perSample, 0);
    const grad = toTf(model.parameters()[0]!.grad!);
    const error = tf.max(tf.abs(tf.sub(total, grad))).dataSync()[0]!;
    const scale = tf.max(tf.abs(grad)).dataSync()[0]!;
    expect(error / scale).toBeLessThan(1e-5);
    tf.dispose([xs, ys, perSample, total, grad]);
  });
});
