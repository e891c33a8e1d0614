import { sizeOf } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { cpu } from '../src/index.js';
import { allIndices, arrayClassOf, flatIndex, randomData, stored } from './reference.js';

const DTYPES = ['float64', 'float32', 'int32'] as const;

/** Data exactly representable in every dtype, so layout results compare exactly. */
function integers(size: number): number[] {
  return Array.from({ length: size }, (_, i) => i * 3 - 7);
}

function permutations(items: readonly number[]): number[][] {
  if (items.length === 0) return [[]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('permute', () => {
  function permuteReference(data: readonly number[], shape: readonly number[], perm: readonly number[]) {
    const outShape = perm.map((p) => shape[p]);
    return allIndices(outShape).map((outIndex) => {
      const inIndex = new Array<number>(shape.length);
      perm.forEach((p, i) => (inIndex[p] = outIndex[i]));
      return data[flatIndex(shape, inIndex)];
    });
  }

  for (const dtype of DTYPES) {
    it(`applies all 24 permutations of a rank-4 tensor (${dtype})`, () => {
      const shape = [2, 3, 4, 5];
      const data = integers(sizeOf(shape));
      const x = cpu.fromData(data, shape, dtype);
      for (const perm of permutations([0, 1, 2, 3])) {
        const y = cpu.permute(x, shape, perm, dtype);
        expect(y).toBeInstanceOf(arrayClassOf(dtype));
        expect(Array.from(y), `perm ${perm}`).toEqual(permuteReference(data, shape, perm));
      }
      expect(Array.from(x)).toEqual(data);
    });
  }

  it('handles size-1, size-0 and rank-0 tensors', () => {
    for (const [shape, perm] of [
      [[3, 1, 4], [2, 1, 0]],
      [[1, 5, 1], [1, 0, 2]],
      [[2, 0, 3], [2, 0, 1]],
      [[], []],
      [[6], [0]],
    ] as [number[], number[]][]) {
      const data = integers(sizeOf(shape));
      const y = cpu.permute(cpu.fromData(data, shape, 'float64'), shape, perm, 'float64');
      expect(Array.from(y)).toEqual(permuteReference(data, shape, perm));
    }
  });

  it('transposes a large matrix exactly', () => {
    const shape = [67, 131];
    const data = randomData(sizeOf(shape), 5);
    const y = cpu.permute(cpu.fromData(data, shape, 'float64'), shape, [1, 0], 'float64');
    expect(Array.from(y)).toEqual(permuteReference(data, shape, [1, 0]));
  });
});

describe('slice', () => {
  function sliceReference(
    data: readonly number[],
    shape: readonly number[],
    begin: readonly number[],
    size: readonly number[],
  ) {
    return allIndices(size).map((index) => data[flatIndex(shape, index.map((i, d) => i + begin[d]))]);
  }

  const CASES: [number[], number[], number[]][] = [
    [[3, 4, 5, 6], [1, 1, 2, 0], [2, 2, 3, 6]],
    [[3, 4, 5, 6], [0, 2, 0, 0], [3, 1, 5, 6]],
    [[3, 4, 5, 6], [2, 3, 4, 5], [1, 1, 1, 1]],
    [[3, 4, 5, 6], [0, 0, 0, 0], [3, 4, 5, 6]],
    [[40, 50], [3, 5], [30, 40]],
    [[4, 5], [1, 2], [0, 3]],
    [[4, 0], [2, 0], [2, 0]],
    [[], [], []],
  ];

  for (const dtype of DTYPES) {
    it(`takes blocks along outer, middle and inner axes (${dtype})`, () => {
      for (const [shape, begin, size] of CASES) {
        const data = integers(sizeOf(shape));
        const x = cpu.fromData(data, shape, dtype);
        const y = cpu.slice(x, shape, begin, size, dtype);
        expect(y).toBeInstanceOf(arrayClassOf(dtype));
        const expected = sliceReference(data, shape, begin, size);
        expect(Array.from(y), `slice [${begin}] + [${size}] of [${shape}]`).toEqual(expected);
        expect(Array.from(x)).toEqual(data);
      }
    });
  }
});

describe('pad', () => {
  function padReference(
    data: readonly number[],
    shape: readonly number[],
    before: readonly number[],
    after: readonly number[],
    value: number,
  ) {
    const outShape = shape.map((dim, d) => before[d] + dim + after[d]);
    return allIndices(outShape).map((index) => {
      const inIndex = index.map((i, d) => i - before[d]);
      const inside = inIndex.every((i, d) => i >= 0 && i < shape[d]);
      return inside ? data[flatIndex(shape, inIndex)] : value;
    });
  }

  const CASES: [number[], number[], number[]][] = [
    [[2, 3, 4], [0, 1, 0], [0, 2, 0]],
    [[2, 3, 4], [1, 0, 2], [0, 1, 1]],
    [[2, 3, 4], [0, 0, 0], [0, 0, 0]],
    [[5], [3], [0]],
    [[2, 0, 3], [1, 1, 0], [0, 2, 1]],
    [[3, 2], [0, 0], [0, 0]],
    [[], [], []],
    [[2, 40], [1, 1], [1, 1]],
  ];

  for (const dtype of DTYPES) {
    it(`pads any axes with a constant (${dtype})`, () => {
      for (const value of [0, -2, 5]) {
        for (const [shape, before, after] of CASES) {
          const data = integers(sizeOf(shape));
          const x = cpu.fromData(data, shape, dtype);
          const y = cpu.pad(x, shape, before, after, value, dtype);
          expect(y).toBeInstanceOf(arrayClassOf(dtype));
          expect(Array.from(y), `pad [${shape}] by [${before}] / [${after}] with ${value}`).toEqual(
            padReference(data, shape, before, after, value),
          );
          expect(Array.from(x)).toEqual(data);
        }
      }
    });
  }

  it('pads with non-integer and NaN values in floats', () => {
    const y = cpu.pad(cpu.fromData([1, 2], [2], 'float32'), [2], [1], [1], 0.1, 'float32');
    expect(Array.from(y)).toEqual(stored([0.1, 1, 2, 0.1], 'float32'));
    const z = cpu.pad(cpu.fromData([1], [1], 'float64'), [1], [0], [1], NaN, 'float64');
    expect(Array.from(z)).toEqual([1, NaN]);
  });
});

describe('concat', () => {
  function concatReference(parts: readonly number[][], shapes: readonly number[][], axis: number) {
    const outShape = shapes[0].slice();
    outShape[axis] = shapes.reduce((total, s) => total + s[axis], 0);
    return allIndices(outShape).map((index) => {
      let position = index[axis];
      let part = 0;
      while (position >= shapes[part][axis]) position -= shapes[part++][axis];
      const inIndex = index.slice();
      inIndex[axis] = position;
      return parts[part][flatIndex(shapes[part], inIndex)];
    });
  }

  for (const dtype of DTYPES) {
    it(`joins along every axis, including empty parts (${dtype})`, () => {
      const base = [2, 3, 4];
      for (let axis = 0; axis < base.length; axis++) {
        const shapes = [1, 3, 0, 2].map((len) => base.map((dim, d) => (d === axis ? len : dim)));
        const parts = shapes.map((shape, i) => integers(sizeOf(shape)).map((v) => v + 100 * i));
        const xs = parts.map((data, i) => cpu.fromData(data, shapes[i], dtype));
        const y = cpu.concat(xs, shapes, axis, dtype);
        expect(y).toBeInstanceOf(arrayClassOf(dtype));
        expect(Array.from(y), `axis ${axis}`).toEqual(concatReference(parts, shapes, axis));
        xs.forEach((x, i) => expect(Array.from(x)).toEqual(parts[i]));
      }
    });
  }

  it('handles a single part, long rows and size-0 results', () => {
    const one = cpu.concat([cpu.fromData([1, 2, 3], [3], 'float64')], [[3]], 0, 'float64');
    expect(Array.from(one)).toEqual([1, 2, 3]);
    const shapes = [[2, 50], [2, 70]];
    const parts = shapes.map((shape, i) => randomData(sizeOf(shape), i));
    const wide = cpu.concat(parts.map((p, i) => cpu.fromData(p, shapes[i], 'float64')), shapes, 1, 'float64');
    expect(Array.from(wide)).toEqual(concatReference(parts, shapes, 1));
    const emptyShapes = [[0, 2], [0, 3]];
    const empties = emptyShapes.map((shape) => cpu.full(shape, 0, 'float32'));
    const empty = cpu.concat(empties, emptyShapes, 1, 'float32');
    expect(empty.length).toBe(0);
  });
});
