/**
 * Derivative rules of softmax and log-softmax, of the sliding-window ops
 * (unfold, fold, max pooling on both of its paths, maxPoolTranspose),
 * against finite differences (first and second derivatives, batched); the
 * ops on integers record nothing.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import {
  Tensor,
  fold,
  logSoftmax,
  maxPool,
  maxPoolTranspose,
  noGrad,
  oneHot,
  softmax,
  tensor,
  unfold,
  type Backend,
  type WindowGeometry,
} from '../src/index.js';
import { vjpWalk } from './helpers/autograd-walk.js';
import { wrapBackend } from './helpers/backends.js';
import { checkOps } from './helpers/gradcheck.js';
import { randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

const geometry = (kernel: number[], stride: number[], padding: number[], dilation: number[]): WindowGeometry => ({ kernel, stride, padding, dilation });

describe('softmax and logSoftmax', () => {
  const x = randomTensor([2, 3, 4], 1, { low: -2, high: 2 });
  checkOps(
    [-1, 0, 1].flatMap((axis) => [
      { name: `softmax along ${axis}`, op: (v: Tensor) => softmax(v, axis), inputs: [x] },
      { name: `logSoftmax along ${axis}`, op: (v: Tensor) => logSoftmax(v, axis), inputs: [x] },
    ]),
  );

  it('oneHot records nothing', () => {
    const indices = t([0, 2], [2], 'int32').requiresGrad_();
    expect(oneHot(indices, 3, 'float64').gradFn).toBeUndefined();
  });
});

describe('unfold and fold', () => {
  const window1d = geometry([3], [2], [1], [1]);
  const window2d = geometry([2, 2], [1, 2], [1, 0], [1, 2]);
  checkOps([
    { name: 'unfold 1-d with stride and padding', op: (x) => unfold(x, window1d), inputs: [randomTensor([2, 2, 5], 1)] },
    { name: 'unfold 2-d with dilation', op: (x) => unfold(x, window2d), inputs: [randomTensor([1, 2, 3, 5], 2)] },
    { name: 'fold 1-d', op: (c) => fold(c, [5], window1d), inputs: [randomTensor([2, 6, 3], 3)] },
    { name: 'fold 2-d with dilation', op: (c) => fold(c, [3, 5], window2d), inputs: [randomTensor([1, 8, 8], 4)] },
  ]);
});

describe('max pooling', () => {
  const cases: [string, number[], WindowGeometry][] = [
    ['2-d, disjoint windows', [2, 2, 4, 4], geometry([2, 2], [2, 2], [0, 0], [1, 1])],
    ['2-d, overlapping windows with padding', [1, 2, 4, 3], geometry([3, 2], [1, 1], [1, 1], [1, 1])],
    ['1-d with dilation', [2, 1, 7], geometry([2], [2], [0], [2])],
  ];

  /** cpu with the optional maxPool kernel, which runs core's fallback on cpu, counting calls. */
  const calls = { maxPool: 0 };
  const native: Backend = wrapBackend(cpu, 'cpu-with-maxPool', {
    maxPool(handle, shape, window, dtype) {
      calls.maxPool += 1;
      const { values: v, argmax } = noGrad(() => maxPool(new Tensor(cpu, handle, shape, dtype), window));
      return { values: v.handle, argmax: argmax.handle };
    },
  });
  const onNative = (x: Tensor) => tensor(x.toArray(), x.shape, { backend: native });

  // Distinct random values: no ties, so finite differences see one argmax.
  checkOps(
    cases.flatMap(([name, shape, window], i) => [
      { name: `maxPool ${name}`, op: (x: Tensor) => maxPool(x, window).values, inputs: [randomTensor(shape, i)] },
      { name: `maxPool ${name}, the backend's kernel`, op: (x: Tensor) => maxPool(x, window).values, inputs: [onNative(randomTensor(shape, i))] },
    ]),
  );

  it('the checks above ran the backend kernel', () => {
    expect(calls.maxPool).toBeGreaterThan(0);
  });

  it('routes the derivative to the first maximum of a tied window on both paths, as PyTorch', () => {
    const window = geometry([2], [2], [0], [1]);
    for (const backend of [cpu, native]) {
      const x = tensor([1, 1, 2, 0], [1, 1, 4], { backend }).requiresGrad_();
      const { values: y, argmax } = maxPool(x, window);
      expect(argmax.gradFn).toBeUndefined();
      const [g] = vjpWalk(y, tensor([5, 7], [1, 1, 2], { backend }), [x]);
      expect(values(g!)).toEqual([5, 0, 7, 0]);
    }
  });

  describe('maxPoolTranspose, linear in mat', () => {
    const window = geometry([2, 2], [1, 1], [1, 0], [1, 1]);
    const spatial = [3, 3];
    const { argmax } = maxPool(randomTensor([2, 2, ...spatial], 7), window);
    const positions = argmax.shape[2]!;
    checkOps([
      {
        name: 'maxPoolTranspose w.r.t. mat (argmax, int32, gets nothing)',
        op: (mat, selected) => maxPoolTranspose(mat, selected!, spatial, window),
        inputs: [tensor(randomNumbers(3 * 2 * 2 * positions, 8), [3, 2, 2, positions], { backend: cpu }), argmax],
      },
    ]);

    it('records nothing when only the (integer) argmax is flagged', () => {
      const flagged = tensor(argmax.toArray(), argmax.shape, { backend: cpu, dtype: 'int32' }).requiresGrad_();
      const mat = randomTensor([1, 2, 2, positions], 9);
      expect(maxPoolTranspose(mat, flagged, spatial, window).gradFn).toBeUndefined();
    });
  });
});
