/**
 * Derivative rules of the reductions (sum, mean, max, min over every kind of
 * axes, with and without keepDims) and of broadcastTo, against finite
 * differences (first and second derivatives, batched); ties; argmax.
 */
import { describe, expect, it } from 'vitest';
import { argmax, broadcastTo, max, mean, min, sum, type Axes, type Tensor } from '../src/index.js';
import { vjpWalk } from './helpers/autograd-walk.js';
import { checkOps, type OpCase } from './helpers/gradcheck.js';
import { randomTensor, t, values } from './helpers/tensors.js';

const reductions: [string, (x: Tensor, axes?: Axes, keepDims?: boolean) => Tensor][] = [
  ['sum', sum],
  ['mean', mean],
  ['max', max],
  ['min', min],
];
const axesCases: [string, Axes, boolean][] = [
  ['all axes', undefined, false],
  ['all axes, keepDims', undefined, true],
  ['axis 0', 0, false],
  ['axis -1, keepDims', -1, true],
  ['axes [0, 2]', [0, 2], false],
  ['axes [-1, 1], keepDims', [-1, 1], true],
  ['no axes', [], false],
];

describe('reductions', () => {
  const cases: OpCase[] = reductions.flatMap(([name, reduce], i) =>
    axesCases.map(([label, axes, keepDims], j) => ({
      name: `${name} over ${label}`,
      op: (x: Tensor) => reduce(x, axes, keepDims),
      // Distinct random values: max and min have no ties here.
      inputs: [randomTensor([2, 3, 4], 10 * i + j)],
    })),
  );
  checkOps(cases);
  checkOps([{ name: 'sum of a scalar', op: (x) => sum(x), inputs: [randomTensor([], 1)] }]);

  it('max and min share the derivative equally among tied elements (as PyTorch amax/amin)', () => {
    const x = t([3, 1, 3, 2, 2, 0], [2, 3]).requiresGrad_();
    const g = t([1, 2], [2]);
    expect(values(vjpWalk(max(x, 1), g, [x])[0]!)).toEqual([0.5, 0, 0.5, 1, 1, 0]);
    expect(values(vjpWalk(min(x, -1), g, [x])[0]!)).toEqual([0, 1, 0, 0, 0, 2]);
  });

  it('argmax gives integers and records nothing', () => {
    const x = randomTensor([2, 3], 1).requiresGrad_();
    const index = argmax(x, 1);
    expect(index.dtype).toBe('int32');
    expect(index.gradFn).toBeUndefined();
  });
});

describe('broadcastTo', () => {
  checkOps([
    { name: 'broadcastTo in front: [3] to [2, 3]', op: (x) => broadcastTo(x, [2, 3]), inputs: [randomTensor([3], 1)] },
    { name: 'broadcastTo stretching: [2, 1] to [2, 3]', op: (x) => broadcastTo(x, [2, 3]), inputs: [randomTensor([2, 1], 2)] },
    { name: 'broadcastTo both: [1, 3, 1] to [2, 2, 3, 4]', op: (x) => broadcastTo(x, [2, 2, 3, 4]), inputs: [randomTensor([1, 3, 1], 3)] },
    { name: 'broadcastTo of a scalar', op: (x) => broadcastTo(x, [2, 2]), inputs: [randomTensor([], 4)] },
  ]);

  it('gives the broadcast values, and refuses shapes that do not broadcast', () => {
    expect(values(broadcastTo(t([1, 2], [2, 1]), [2, 3]))).toEqual([1, 1, 1, 2, 2, 2]);
    expect(() => broadcastTo(t([1, 2, 3], [3]), [2, 2])).toThrow('broadcastTo: cannot broadcast [3] to [2, 2]');
    expect(() => broadcastTo(t([1, 2], [2, 1]), [3])).toThrow('broadcastTo: cannot broadcast [2, 1] to [3]');
  });
});
