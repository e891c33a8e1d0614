import { sizeOf } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { cpu } from '../src/index.js';
import { allIndices, expectClose, FLOAT_DTYPES, flatIndex, randomData, stored } from './reference.js';

/** Brute force along `axis`: for each output index, loop over its lane explicitly. */
function softmaxReference(data: readonly number[], shape: readonly number[], axis: number, log: boolean): number[] {
  return allIndices(shape).map((index) => {
    const lane = Array.from({ length: shape[axis] }, (_, j) => {
      const at = index.slice();
      at[axis] = j;
      return data[flatIndex(shape, at)];
    });
    const shift = Math.max(...lane);
    const total = lane.reduce((s, v) => s + Math.exp(v - shift), 0);
    const x = data[flatIndex(shape, index)];
    return log ? x - shift - Math.log(total) : Math.exp(x - shift) / total;
  });
}

describe('softmax and logSoftmax', () => {
  for (const dtype of FLOAT_DTYPES) {
    for (const log of [false, true]) {
      const name = log ? 'logSoftmax' : 'softmax';
      const run = (x: Float32Array | Float64Array | Int32Array, shape: number[], axis: number) =>
        log ? cpu.logSoftmax(x, shape, axis, dtype) : cpu.softmax(x, shape, axis, dtype);

      it(`${name} along every axis (${dtype})`, () => {
        for (const shape of [[3, 4, 5], [2, 1, 3, 2], [6]]) {
          const data = stored(randomData(sizeOf(shape), 11).map((v) => v * 5), dtype);
          const x = cpu.fromData(data, shape, dtype);
          for (let axis = 0; axis < shape.length; axis++) {
            const y = run(x, shape, axis);
            expect(y).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
            expectClose(y, softmaxReference(data, shape, axis, log), dtype);
          }
          expect(Array.from(x)).toEqual(data);
        }
      });

      it(`${name} is stable for large inputs (${dtype})`, () => {
        const x = cpu.fromData([1000, 1001, -1000, -1001], [2, 2], dtype);
        const y = run(x, [2, 2], 1);
        const p = 1 / (1 + Math.E);
        const expected = log ? [Math.log(p), Math.log(1 - p), Math.log(1 - p), Math.log(p)] : [p, 1 - p, 1 - p, p];
        expectClose(y, expected, dtype);
      });

      it(`${name} handles -Infinity, NaN and size-0 lanes (${dtype})`, () => {
        const y = run(cpu.fromData([0, -Infinity, 0], [3], dtype), [3], 0);
        expectClose(y, log ? [-Math.LN2, -Infinity, -Math.LN2] : [0.5, 0, 0.5], dtype);
        expect(Array.from(run(cpu.fromData([1, NaN], [2], dtype), [2], 0))).toEqual([NaN, NaN]);
        expect(run(cpu.full([2, 0], 0, dtype), [2, 0], 1).length).toBe(0);
        expect(run(cpu.full([0, 3], 0, dtype), [0, 3], 1).length).toBe(0);
      });
    }
  }
});

describe('oneHot', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`encodes indices of any shape into a new last axis (${dtype})`, () => {
      for (const shape of [[2, 3], [4], []]) {
        const depth = 5;
        const indices = Array.from({ length: sizeOf(shape) }, (_, i) => (i * 3) % depth);
        const y = cpu.oneHot(cpu.fromData(indices, shape, 'int32'), shape, depth, dtype);
        expect(y).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        const expected = allIndices([...shape, depth]).map((index) =>
          index[index.length - 1] === indices[flatIndex(shape, index.slice(0, -1))] ? 1 : 0,
        );
        expect(Array.from(y)).toEqual(expected);
      }
    });
  }

  it('handles size-0 index tensors', () => {
    expect(cpu.oneHot(cpu.full([0, 2], 0, 'int32'), [0, 2], 3, 'float64').length).toBe(0);
  });
});
