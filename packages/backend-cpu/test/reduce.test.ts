import { sizeOf, type ReduceOp } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { cpu } from '../src/index.js';
import { allIndices, expectClose, FLOAT_DTYPES, flatIndex, randomData, stored } from './reference.js';

const OPS: readonly ReduceOp[] = ['sum', 'max', 'min'];

/** Every sorted subset of the axes of a rank-`rank` tensor. */
function axisSubsets(rank: number): number[][] {
  const subsets: number[][] = [];
  for (let mask = 0; mask < 1 << rank; mask++) {
    subsets.push([...Array(rank).keys()].filter((d) => mask & (1 << d)));
  }
  return subsets;
}

/** Brute force: fold every input element into the output slot its kept indices name. */
function reduceReference(op: ReduceOp, data: readonly number[], shape: readonly number[], axes: readonly number[]) {
  const outShape = shape.filter((_, d) => !axes.includes(d));
  const initial = { sum: 0, max: -Infinity, min: Infinity }[op];
  const out = new Array<number>(sizeOf(outShape)).fill(initial);
  for (const index of allIndices(shape)) {
    const o = flatIndex(outShape, index.filter((_, d) => !axes.includes(d)));
    const v = data[flatIndex(shape, index)];
    out[o] = op === 'sum' ? out[o] + v : op === 'max' ? Math.max(out[o], v) : Math.min(out[o], v);
  }
  return { out, outShape };
}

describe('reduce', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const op of OPS) {
      for (const shape of [[3, 4, 5], [2, 3, 1, 4], [7], []]) {
        it(`${op} over every axis subset of [${shape}] (${dtype})`, () => {
          const data = stored(randomData(sizeOf(shape), 7), dtype);
          const x = cpu.fromData(data, shape, dtype);
          for (const axes of axisSubsets(shape.length)) {
            const { out, outShape } = reduceReference(op, data, shape, axes);
            const y = cpu.reduce(op, x, shape, axes, dtype);
            expect(y).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
            expect(y.length).toBe(sizeOf(outShape));
            expectClose(y, stored(out, dtype), dtype);
          }
          expect(Array.from(x)).toEqual(data);
        });
      }
    }
  }

  it('reduces every axis to a rank-0 result', () => {
    const x = cpu.fromData([1, 2, 3, 4, 5, 6], [2, 3], 'float64');
    expect(Array.from(cpu.reduce('sum', x, [2, 3], [0, 1], 'float64'))).toEqual([21]);
    expect(Array.from(cpu.reduce('max', x, [2, 3], [0, 1], 'float64'))).toEqual([6]);
    expect(Array.from(cpu.reduce('min', x, [2, 3], [0, 1], 'float64'))).toEqual([1]);
  });

  for (const dtype of FLOAT_DTYPES) {
    it(`gives the identity for empty reductions (${dtype})`, () => {
      const x = cpu.full([2, 0, 3], 0, dtype);
      expect(Array.from(cpu.reduce('sum', x, [2, 0, 3], [1], dtype))).toEqual([0, 0, 0, 0, 0, 0]);
      expect(Array.from(cpu.reduce('max', x, [2, 0, 3], [1], dtype))).toEqual(new Array(6).fill(-Infinity));
      expect(Array.from(cpu.reduce('min', x, [2, 0, 3], [0, 1, 2], dtype))).toEqual([Infinity]);
      expect(cpu.reduce('sum', x, [2, 0, 3], [0], dtype).length).toBe(0);
      expect(cpu.reduce('max', x, [2, 0, 3], [2], dtype).length).toBe(0);
    });
  }

  it('accumulates float32 sums in doubles, over inner and outer axes', () => {
    // In float32 arithmetic 2^24 + 1 rounds back to 2^24, so each added 1 would be lost.
    const big = 2 ** 24;
    const rows = [[big, big], [1, 1], [1, 1], [1, 1], [1, 1]];
    const x = cpu.fromData(rows.flat(), [5, 2], 'float32');
    expect(Array.from(cpu.reduce('sum', x, [5, 2], [0], 'float32'))).toEqual([big + 4, big + 4]);
    const xt = cpu.fromData([big, 1, 1, 1, 1], [1, 5], 'float32');
    expect(Array.from(cpu.reduce('sum', xt, [1, 5], [1], 'float32'))).toEqual([big + 4]);
  });

  it('propagates NaN', () => {
    const x = cpu.fromData([1, NaN, 3, 4], [2, 2], 'float64');
    for (const op of OPS) {
      const secondRow = { sum: 7, max: 4, min: 3 }[op];
      expect(Array.from(cpu.reduce(op, x, [2, 2], [1], 'float64'))).toEqual([NaN, secondRow]);
      expect(Array.from(cpu.reduce(op, x, [2, 2], [0], 'float64'))[1]).toBeNaN();
    }
  });

  it('reduces int32 into int32', () => {
    const x = cpu.fromData([1, -2, 3, 4, 5, -6], [2, 3], 'int32');
    const sum = cpu.reduce('sum', x, [2, 3], [0], 'int32');
    expect(sum).toBeInstanceOf(Int32Array);
    expect(Array.from(sum)).toEqual([5, 3, -3]);
    expect(Array.from(cpu.reduce('max', x, [2, 3], [1], 'int32'))).toEqual([3, 5]);
  });
});
