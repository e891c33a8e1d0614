import { describe, expect, it } from 'vitest';
import type { Backend } from '@backpack-ts/core';
import { cpu, CpuBackend, type CpuHandle } from '../src/index.js';
import { arrayClassOf } from './reference.js';

describe('backend identity', () => {
  it('names itself and lists its dtypes', () => {
    const backend: Backend<CpuHandle> = cpu;
    expect(backend).toBeInstanceOf(CpuBackend);
    expect(cpu.name).toBe('cpu');
    expect(cpu.dtypes).toEqual(['float64', 'float32', 'int32']);
  });

  it('omits liveCount and disposes without effect', () => {
    expect('liveCount' in cpu).toBe(false);
    const x = cpu.fromData([1, 2], [2], 'float64');
    cpu.dispose(x);
    expect(Array.from(x)).toEqual([1, 2]);
  });
});

describe('fromData / full / read', () => {
  for (const dtype of ['float64', 'float32', 'int32'] as const) {
    it(`stores ${dtype} in its typed array and copies the input`, () => {
      const source = [1, -2, 3, 4, 5, 6];
      const x = cpu.fromData(source, [2, 3], dtype);
      expect(x).toBeInstanceOf(arrayClassOf(dtype));
      source[0] = 100;
      expect(Array.from(cpu.read(x, [2, 3], dtype))).toEqual([1, -2, 3, 4, 5, 6]);
    });

    it(`fills ${dtype}, including rank-0 and size-0 shapes`, () => {
      expect(Array.from(cpu.read(cpu.full([2, 2], 7, dtype), [2, 2], dtype))).toEqual([7, 7, 7, 7]);
      expect(Array.from(cpu.read(cpu.full([], 3, dtype), [], dtype))).toEqual([3]);
      expect(cpu.full([3, 0], 1, dtype).length).toBe(0);
      expect(cpu.fromData([], [0, 4], dtype).length).toBe(0);
    });
  }

  it('rounds to float32, truncates to int32 and keeps -0', () => {
    expect(cpu.fromData([0.1], [1], 'float32')[0]).toBe(Math.fround(0.1));
    expect(Array.from(cpu.fromData([2.9, -2.9], [2], 'int32'))).toEqual([2, -2]);
    expect(Object.is(cpu.full([1], -0, 'float64')[0], -0)).toBe(true);
  });

  it('accepts typed arrays as data', () => {
    const x = cpu.fromData(new Float32Array([1.5, 2.5]), [2], 'float64');
    expect(Array.from(x)).toEqual([1.5, 2.5]);
  });

  it('rejects data that does not fill the shape', () => {
    expect(() => cpu.fromData([1, 2, 3], [2, 2], 'float64')).toThrow(RangeError);
  });

  it('read returns a copy the caller may mutate', () => {
    const x = cpu.fromData([1, 2, 3], [3], 'float32');
    const copy = cpu.read(x, [3], 'float32');
    expect(copy).toBeInstanceOf(Float32Array);
    copy[0] = 42;
    expect(Array.from(cpu.read(x, [3], 'float32'))).toEqual([1, 2, 3]);
  });
});

describe('reshape', () => {
  it('keeps the elements in row-major order', () => {
    const x = cpu.fromData([1, 2, 3, 4, 5, 6], [2, 3], 'float64');
    const y = cpu.reshape(x, [2, 3], [3, 1, 2], 'float64');
    expect(Array.from(cpu.read(y, [3, 1, 2], 'float64'))).toEqual([1, 2, 3, 4, 5, 6]);
    const scalar = cpu.reshape(cpu.fromData([9], [1, 1], 'float32'), [1, 1], [], 'float32');
    expect(Array.from(cpu.read(scalar, [], 'float32'))).toEqual([9]);
  });
});

describe('cast', () => {
  it('truncates floats toward zero when casting to int32', () => {
    const x = cpu.fromData([2.7, -2.7, 0.5, -0.5, 1e9, -3], [6], 'float64');
    const y = cpu.cast(x, [6], 'float64', 'int32');
    expect(y).toBeInstanceOf(Int32Array);
    expect(Array.from(y)).toEqual([2, -2, 0, 0, 1e9, -3]);
    expect(Array.from(cpu.cast(cpu.fromData([-1.9], [1], 'float32'), [1], 'float32', 'int32'))).toEqual([-1]);
  });

  it('converts int32 to floats exactly', () => {
    const big = 2 ** 31 - 1;
    const x = cpu.fromData([big, -big - 1, 7], [3], 'int32');
    const y = cpu.cast(x, [3], 'int32', 'float64');
    expect(y).toBeInstanceOf(Float64Array);
    expect(Array.from(y)).toEqual([big, -big - 1, 7]);
    expect(Array.from(cpu.cast(cpu.fromData([16777216], [1], 'int32'), [1], 'int32', 'float32'))).toEqual([16777216]);
  });

  it('rounds float64 to float32 and widens float32 exactly', () => {
    const narrow = cpu.cast(cpu.fromData([0.1, 1e40], [2], 'float64'), [2], 'float64', 'float32');
    expect(narrow).toBeInstanceOf(Float32Array);
    expect(Array.from(narrow)).toEqual([Math.fround(0.1), Infinity]);
    const wide = cpu.cast(narrow, [2], 'float32', 'float64');
    expect(Array.from(wide)).toEqual([Math.fround(0.1), Infinity]);
  });

  it('keeps the values of a cast to the same dtype', () => {
    for (const dtype of ['float64', 'float32', 'int32'] as const) {
      const y = cpu.cast(cpu.fromData([1, -2, 3], [3], dtype), [3], dtype, dtype);
      expect(y).toBeInstanceOf(arrayClassOf(dtype));
      expect(Array.from(y)).toEqual([1, -2, 3]);
    }
  });

  it('handles rank-0 and size-0 tensors', () => {
    expect(Array.from(cpu.cast(cpu.fromData([3.5], [], 'float64'), [], 'float64', 'int32'))).toEqual([3]);
    expect(cpu.cast(cpu.full([0, 2], 0, 'float32'), [0, 2], 'float32', 'float64').length).toBe(0);
  });
});
