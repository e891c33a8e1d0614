/** Tensor ops against plain JavaScript loops. */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  add,
  broadcastShapes,
  cast,
  concat,
  flatten,
  logSoftmax,
  matmul,
  max,
  mean,
  min,
  mul,
  oneHot,
  pad,
  permute,
  reshape,
  slice,
  softmax,
  sizeOf,
  sub,
  sum,
  tensor,
  transpose,
  unsqueeze,
  type Shape,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { indices, offsetOf, randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

const EXACT_RTOL = 1e-12;

/** Reads entry `index` of `x`; dimensions of size 1 broadcast (their index is taken as 0). */
function entry(data: readonly number[], shape: Shape, index: readonly number[]): number {
  const own = index.slice(index.length - shape.length).map((k, i) => (shape[i] === 1 ? 0 : k));
  return data[offsetOf(own, shape)]!;
}

describe('matmul', () => {
  /** `a @ b` by the definition, with NumPy broadcasting of the batch dimensions. */
  function matmulByLoops(a: Tensor, b: Tensor, transA: boolean, transB: boolean): { data: number[]; shape: number[] } {
    const [ad, bd] = [values(a), values(b)];
    const m = a.shape[a.rank - (transA ? 1 : 2)]!;
    const k = a.shape[a.rank - (transA ? 2 : 1)]!;
    const n = b.shape[b.rank - (transB ? 2 : 1)]!;
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'test');
    const shape = [...batch, m, n];
    const data = [...indices(shape)].map((index) => {
      const [i, j] = index.slice(-2) as [number, number];
      const outer = index.slice(0, -2);
      let total = 0;
      for (let p = 0; p < k; p++) {
        const aIndex = [...outer, ...(transA ? [p, i] : [i, p])];
        const bIndex = [...outer, ...(transB ? [j, p] : [p, j])];
        total += entry(ad, a.shape, aIndex.slice(aIndex.length - a.rank)) * entry(bd, b.shape, bIndex.slice(bIndex.length - b.rank));
      }
      return total;
    });
    return { data, shape };
  }

  it.each([
    [[3, 4], [4, 2], false, false],
    [[4, 3], [4, 2], true, false],
    [[3, 4], [2, 4], false, true],
    [[4, 3], [2, 4], true, true],
    [[2, 3, 4], [2, 4, 5], false, false],
    [[3, 4], [2, 4, 5], false, false],
    [[2, 3, 4], [4, 5], false, false],
    [[2, 1, 3, 4], [5, 4, 2], false, false],
    [[2, 1, 4, 3], [1, 3, 2, 4], true, true],
    [[1, 3, 4], [2, 2, 4, 2], false, false],
    [[2, 3, 0], [2, 0, 4], false, false],
  ] as const)('%j @ %j (transA %s, transB %s)', (aShape, bShape, transA, transB) => {
    const [a, b] = [randomTensor(aShape, 1), randomTensor(bShape, 2)];
    const expected = matmulByLoops(a, b, transA, transB);
    expectClose(matmul(a, b, transA, transB), expected.data, EXACT_RTOL, expected.shape);
  });

  it('rejects mismatched inner dimensions and rank-1 operands', () => {
    expect(() => matmul(randomTensor([2, 3], 1), randomTensor([4, 2], 2))).toThrow(/inner dimensions differ.*\(3 vs 4\)/);
    expect(() => matmul(randomTensor([3], 1), randomTensor([3, 2], 2))).toThrow(/rank >= 2/);
    expect(() => matmul(randomTensor([2, 2, 3], 1), randomTensor([3, 3, 2], 2))).toThrow(/cannot be broadcast/);
  });
});

describe('layout', () => {
  const x = randomTensor([2, 3, 4], 1);
  const xs = values(x);

  it('reshape keeps the row-major order and infers one -1', () => {
    expectClose(reshape(x, [6, 4]), xs, 0, [6, 4]);
    expectClose(reshape(x, [-1, 4]), xs, 0, [6, 4]);
    expectClose(reshape(x, [4, -1]), xs, 0, [4, 6]);
    expectClose(reshape(x, [2, -1, 2]), xs, 0, [2, 6, 2]);
    expectClose(reshape(x, [-1]), xs, 0, [24]);
    expectClose(reshape(t([5], [1]), []), [5], 0, []);
  });

  it('reshape rejects impossible shapes', () => {
    expect(() => reshape(x, [5, -1])).toThrow(/cannot view \[2, 3, 4\] \(24 elements\) as \[5, -1\]/);
    expect(() => reshape(x, [-1, -1, 4])).toThrow(/cannot view/);
    expect(() => reshape(x, [5, 5])).toThrow(/cannot view/);
    expect(() => reshape(x, [-2, -12])).toThrow(/cannot view/);
  });

  /** Output index → input index under `perm`, by the definition. */
  function permuteByLoops(data: number[], shape: Shape, perm: number[]): number[] {
    const outShape = perm.map((p) => shape[p]!);
    return [...indices(outShape)].map((index) => {
      const source = new Array<number>(shape.length);
      perm.forEach((p, i) => (source[p] = index[i]!));
      return data[offsetOf(source, shape)]!;
    });
  }

  it('permute, with negative axes', () => {
    expectClose(permute(x, [2, 0, 1]), permuteByLoops(xs, x.shape, [2, 0, 1]), 0, [4, 2, 3]);
    expectClose(permute(x, [-1, -3, -2]), permuteByLoops(xs, x.shape, [2, 0, 1]), 0, [4, 2, 3]);
    expectClose(permute(x, [1, 2, 0]), permuteByLoops(xs, x.shape, [1, 2, 0]), 0, [3, 4, 2]);
    expectClose(permute(x, [0, 1, 2]), xs, 0, [2, 3, 4]);
    expect(() => permute(x, [0, 0, 1])).toThrow(/not a permutation of 3 dimensions/);
    expect(() => permute(x, [0, 1])).toThrow(/not a permutation/);
    expect(() => permute(x, [0, 1, 3])).toThrow(/axis 3 is out of range/);
  });

  it('transpose swaps the last two dimensions by default, or the two given', () => {
    expectClose(transpose(x), permuteByLoops(xs, x.shape, [0, 2, 1]), 0, [2, 4, 3]);
    expectClose(transpose(x, 0, 2), permuteByLoops(xs, x.shape, [2, 1, 0]), 0, [4, 3, 2]);
    expectClose(transpose(x, -3, 1), permuteByLoops(xs, x.shape, [1, 0, 2]), 0, [3, 2, 4]);
  });

  it('flatten merges startDim..endDim, as torch.flatten', () => {
    expectClose(flatten(x), xs, 0, [24]);
    expectClose(flatten(x, 1), xs, 0, [2, 12]);
    expectClose(flatten(x, 0, 1), xs, 0, [6, 4]);
    expectClose(flatten(x, -2, -1), xs, 0, [2, 12]);
    expectClose(flatten(x, 1, 1), xs, 0, [2, 3, 4]);
    expectClose(flatten(t([7], []), 0), [7], 0, [1]);
  });

  it('flatten rejects startDim after endDim', () => {
    expect(() => flatten(x, 2, 1)).toThrow(/start dimension 2 comes after end dimension 1/);
  });

  it('unsqueeze inserts a dimension of size 1', () => {
    expectClose(unsqueeze(x, 0), xs, 0, [1, 2, 3, 4]);
    expectClose(unsqueeze(x, 1), xs, 0, [2, 1, 3, 4]);
    expectClose(unsqueeze(x, 3), xs, 0, [2, 3, 4, 1]);
    expectClose(unsqueeze(x, -1), xs, 0, [2, 3, 4, 1]);
    expect(() => unsqueeze(x, 5)).toThrow(/out of range/);
  });

  it('slice takes a block; -1 extends to the end', () => {
    const expected = (begin: number[], shape: number[]) => [...indices(shape)].map((i) => xs[offsetOf(i.map((k, d) => k + begin[d]!), x.shape)]!);
    expectClose(slice(x, [1, 0, 1], [1, 2, 3]), expected([1, 0, 1], [1, 2, 3]), 0, [1, 2, 3]);
    expectClose(slice(x, [0, 1, 2], [-1, -1, -1]), expected([0, 1, 2], [2, 2, 2]), 0, [2, 2, 2]);
    expectClose(slice(x, [0, 2], [2, 1]), expected([0, 2, 0], [2, 1, 4]), 0, [2, 1, 4]);
    expectClose(slice(x, [0, 1, 1], [2, 0, 3]), [], 0, [2, 0, 3]);
    expect(() => slice(x, [0, 2, 0], [1, 2, 1])).toThrow(/exceeds \[2, 3, 4\]/);
    expect(() => slice(x, [-1, 0, 0], [1, 1, 1])).toThrow(/exceeds/);
  });

  it('concat joins along an axis, negative axes count from the end', () => {
    const [a, b] = [randomTensor([2, 3], 1), randomTensor([2, 2], 2)];
    const [ad, bd] = [values(a), values(b)];
    const rows = [0, 1].flatMap((i) => [...ad.slice(3 * i, 3 * i + 3), ...bd.slice(2 * i, 2 * i + 2)]);
    expectClose(concat([a, b], 1), rows, 0, [2, 5]);
    expectClose(concat([a, b], -1), rows, 0, [2, 5]);
    const c = randomTensor([1, 3], 3);
    expectClose(concat([a, c, a], 0), [...ad, ...values(c), ...ad], 0, [5, 3]);
    expect(() => concat([a, b], 0)).toThrow(/shapes \[2, 3\] and \[2, 2\] differ outside axis 0/);
    expect(() => concat([], 0)).toThrow(/at least one tensor/);
  });

  it('pad surrounds every dimension with a constant', () => {
    const a = t([1, 2, 3, 4, 5, 6], [2, 3]);
    const expected = [
      [9, 9, 9, 9, 9, 9],
      [9, 1, 2, 3, 9, 9],
      [9, 4, 5, 6, 9, 9],
    ].flat();
    expectClose(pad(a, [1, 1], [0, 2], 9), expected, 0, [3, 6]);
    expectClose(pad(a, [0, 0], [1, 0]), [1, 2, 3, 4, 5, 6, 0, 0, 0], 0, [3, 3]);
    expect(() => pad(a, [1], [1])).toThrow(/needs 2 non-negative integers/);
    expect(() => pad(a, [-1, 0], [0, 0])).toThrow(/non-negative/);
  });
});

describe('reductions', () => {
  const x = randomTensor([2, 3, 4], 1);
  const xs = values(x);

  /** Reduces `axes` (non-negative) by the definition. */
  function reduceByLoops(op: (a: number, b: number) => number, axes: number[], keepDims: boolean): { data: number[]; shape: number[] } {
    const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const data: number[] = [];
    for (const index of indices(x.shape)) {
      const o = offsetOf(index.map((k, i) => (axes.includes(i) ? 0 : k)), keptShape);
      const value = xs[offsetOf(index, x.shape)]!;
      data[o] = data[o] === undefined ? value : op(data[o], value);
    }
    return { data, shape: keepDims ? keptShape : x.shape.filter((_, i) => !axes.includes(i)) };
  }

  const ops = [
    ['sum', sum, (a: number, b: number) => a + b],
    ['max', max, Math.max],
    ['min', min, Math.min],
  ] as const;

  describe.each(ops)('%s', (_, reduce, op) => {
    it.each([
      [0, [0]],
      [-1, [2]],
      [[0, 2], [0, 2]],
      [[-1, -3], [0, 2]],
      [[1, 1], [1]],
      [undefined, [0, 1, 2]],
    ] as const)('over axes %j', (axes, normalized) => {
      for (const keepDims of [false, true]) {
        const expected = reduceByLoops(op, [...normalized], keepDims);
        expectClose(reduce(x, axes, keepDims), expected.data, EXACT_RTOL, expected.shape);
      }
    });
  });

  it('mean divides the sum by the number of reduced elements', () => {
    const sum1 = reduceByLoops((a, b) => a + b, [1], true);
    expectClose(mean(x, -2, true), sum1.data.map((s) => s / 3), EXACT_RTOL, [2, 1, 4]);
    const sum02 = reduceByLoops((a, b) => a + b, [0, 2], false);
    expectClose(mean(x, [0, -1]), sum02.data.map((s) => s / 8), EXACT_RTOL, [3]);
    expectClose(mean(x), [xs.reduce((a, b) => a + b) / 24], EXACT_RTOL, []);
  });

  it('rejects axes out of range', () => {
    expect(() => sum(x, 3)).toThrow(/axis 3 is out of range for a tensor of rank 3/);
    expect(() => max(x, -4)).toThrow(/out of range/);
  });
});

describe('softmax and logSoftmax', () => {
  /** Softmax of `data` `[rows, cols]` along the last axis, shifted by the row maximum. */
  function softmaxRows(data: number[], cols: number): { probs: number[]; logProbs: number[] } {
    const probs: number[] = [];
    const logProbs: number[] = [];
    for (let r = 0; r < data.length / cols; r++) {
      const row = data.slice(r * cols, (r + 1) * cols);
      const top = Math.max(...row);
      const logSum = top + Math.log(row.reduce((s, z) => s + Math.exp(z - top), 0));
      for (const z of row) {
        logProbs.push(z - logSum);
        probs.push(Math.exp(z - logSum));
      }
    }
    return { probs, logProbs };
  }

  it('along the last axis', () => {
    const x = randomTensor([3, 4], 1, { low: -5, high: 5 });
    const { probs, logProbs } = softmaxRows(values(x), 4);
    expectClose(softmax(x), probs, EXACT_RTOL, [3, 4]);
    expectClose(logSoftmax(x, -1), logProbs, EXACT_RTOL, [3, 4]);
  });

  it('along axis 0', () => {
    const x = randomTensor([3, 4], 2);
    const { probs, logProbs } = softmaxRows(values(transpose(x)), 3);
    expectClose(transpose(softmax(x, 0)), probs, EXACT_RTOL, [4, 3]);
    expectClose(transpose(logSoftmax(x, 0)), logProbs, EXACT_RTOL, [4, 3]);
  });

  it('stays finite for large inputs', () => {
    const data = [1000, -1000, 999, 0, -800, -801];
    const { probs, logProbs } = softmaxRows(data, 3);
    expectClose(softmax(t(data, [2, 3])), probs, EXACT_RTOL);
    expectClose(logSoftmax(t(data, [2, 3])), logProbs, EXACT_RTOL);
    expect(values(logSoftmax(t(data, [2, 3]))).every(Number.isFinite)).toBe(true);
  });
});

describe('oneHot', () => {
  it('encodes int32 indices in a new last dimension', () => {
    const encoded = oneHot(t([2, 0, 1], [3], 'int32'), 4, 'float64');
    expect(encoded.dtype).toBe('float64');
    expectClose(encoded, [0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0], 0, [3, 4]);
    const nested = oneHot(t([1, 0, 0, 1], [2, 2], 'int32'), 2, 'float32');
    expect(nested.dtype).toBe('float32');
    expectClose(nested, [0, 1, 1, 0, 1, 0, 0, 1], 0, [2, 2, 2]);
  });

  it('rejects float indices', () => {
    expect(() => oneHot(t([1, 0], [2]), 2, 'float64')).toThrow(/indices must be int32, got float64/);
  });
});

describe('cast', () => {
  it('float to int32 truncates toward zero', () => {
    const x = cast(t([1.7, -1.7, 2, -0.2, 0], [5]), 'int32');
    expect(x.dtype).toBe('int32');
    expect(values(x)).toEqual([1, -1, 2, 0, 0]);
  });

  it('int32 to float, float64 to float32 and to the same dtype', () => {
    const ints = cast(t([3, -4], [2], 'int32'), 'float64');
    expect([ints.dtype, values(ints)]).toEqual(['float64', [3, -4]]);
    const data = [0.1, 1 / 3, -2.5];
    const single = cast(t(data, [3]), 'float32');
    expect([single.dtype, values(single)]).toEqual(['float32', data.map(Math.fround)]);
    const same = t(data, [3]);
    const copy = cast(same, 'float64');
    expect(copy).not.toBe(same);
    expect([copy.dtype, values(copy)]).toEqual(['float64', data]);
  });
});

describe('elementwise ops broadcast like NumPy', () => {
  it('[2, 3] with [3], [2, 1] and a number', () => {
    const [a, row, column] = [randomTensor([2, 3], 1), randomTensor([3], 2), randomTensor([2, 1], 3)];
    const [ad, rd, cd] = [values(a), values(row), values(column)];
    expectClose(add(a, row), ad.map((v, i) => v + rd[i % 3]!), EXACT_RTOL, [2, 3]);
    expectClose(sub(a, column), ad.map((v, i) => v - cd[Math.floor(i / 3)]!), EXACT_RTOL, [2, 3]);
    expectClose(mul(column, row), [...indices([2, 3])].map(([i, j]) => cd[i!]! * rd[j!]!), EXACT_RTOL, [2, 3]);
    expectClose(mul(a, 2.5), ad.map((v) => v * 2.5), EXACT_RTOL, [2, 3]);
  });

  it('rejects shapes that do not broadcast, naming both', () => {
    expect(() => add(randomTensor([2, 3], 1), randomTensor([2], 2))).toThrow(/shapes \[2, 3\] and \[2\] cannot be broadcast together/);
  });
});

describe('tensor()', () => {
  it('copies the data in the given shape and dtype', () => {
    const data = randomNumbers(6, 1);
    const x = tensor(data, [2, 3], { backend: cpu });
    expect([x.shape, x.dtype, x.backend]).toEqual([[2, 3], 'float64', cpu]);
    expect(values(x)).toEqual(data);
    expect(sizeOf(x.shape)).toBe(6);
  });

  it('rejects non-integer int32 data, naming the value and its index', () => {
    expect(() => tensor([1, 1.5], [2], { backend: cpu, dtype: 'int32' })).toThrow(/int32 data must be integers, got 1.5 at index 1/);
    expect(() => tensor([Number.NaN], [1], { backend: cpu, dtype: 'int32' })).toThrow(/got NaN at index 0/);
    expect(() => tensor([2 ** 40], [1], { backend: cpu, dtype: 'int32' })).toThrow(/int32 data must be integers/);
    expect(() => tensor([2 ** 31], [1], { backend: cpu, dtype: 'int32' })).toThrow(/got 2147483648 at index 0/);
  });

  it('accepts the whole int32 range', () => {
    const extremes = [-(2 ** 31), 2 ** 31 - 1, 0];
    expect(values(tensor(extremes, [3], { backend: cpu, dtype: 'int32' }))).toEqual(extremes);
  });

  it('rejects data that does not fill the shape', () => {
    expect(() => tensor([1, 2, 3], [2, 2], { backend: cpu })).toThrow(/3 values do not fill shape \[2, 2\] \(4 elements\)/);
    expect(() => tensor([1, 2, 3, 4, 5], [2, 2], { backend: cpu })).toThrow(/5 values do not fill/);
  });

  it('rejects invalid shapes', () => {
    expect(() => tensor([], [-1], { backend: cpu })).toThrow(/invalid shape \[-1\]/);
    expect(() => tensor([1], [0.5], { backend: cpu })).toThrow(/invalid shape/);
  });
});
