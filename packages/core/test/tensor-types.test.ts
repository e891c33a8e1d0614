/**
 * `toArray()` typed by dtype: a dtype known statically (a factory's literal
 * `dtype`, `cast`) gives its typed array, on which `.reduce` and indexing
 * type-check; any tensor reads as a given dtype with `toArray(dtype)`
 * (checked at run time) or as plain numbers with `toNumbers()`. The type
 * assertions are checked by the package's typecheck (`tsc` over the tests);
 * the values by running.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import { add, cast, full, tensor, zeros, type DataArray, type Tensor } from '@backpack-ts/core';

describe('toArray() typed by dtype', () => {
  it('is the dtype\'s typed array when the factory is given a dtype, and reduce and indexing type-check', () => {
    const x = tensor([1, 2, 3.5], [3], { backend: cpu, dtype: 'float64' });
    expectTypeOf(x).toEqualTypeOf<Tensor<'float64'>>();
    const data = x.toArray();
    expectTypeOf(data).toEqualTypeOf<Float64Array>();
    const total: number = data.reduce((sum, v) => sum + v, 0);
    expect(total).toBe(6.5);
    const first: number | undefined = data[0];
    expect(first).toBe(1);
    expect(data).toBeInstanceOf(Float64Array);
    expectTypeOf(zeros([2], { backend: cpu, dtype: 'float32' }).toArray()).toEqualTypeOf<Float32Array>();
    expectTypeOf(full([2], 7, { backend: cpu, dtype: 'int32' }).toArray()).toEqualTypeOf<Int32Array>();
    expect(full([2], 7, { backend: cpu, dtype: 'int32' }).toArray()).toBeInstanceOf(Int32Array);
  });

  it('follows cast, and is the union of all three when the dtype is not known statically', () => {
    const x = tensor([1.5, -2.5], [2], { backend: cpu });
    expectTypeOf(x).toEqualTypeOf<Tensor>();
    expectTypeOf(x.toArray()).toEqualTypeOf<DataArray>();
    const truncated = cast(x, 'int32').toArray();
    expectTypeOf(truncated).toEqualTypeOf<Int32Array>();
    expect(Array.from(truncated)).toEqual([1, -2]);
  });

  it('reads an op result as a given dtype, checked at run time, or as plain numbers', () => {
    const y = add(tensor([1, 2], [2], { backend: cpu, dtype: 'float32' }), 0.5);
    const asFloat32 = y.toArray('float32');
    expectTypeOf(asFloat32).toEqualTypeOf<Float32Array>();
    expect(asFloat32.reduce((sum, v) => sum + v, 0)).toBe(4);
    expect(() => y.toArray('float64')).toThrow(
      "toArray('float64'): the tensor is float32 (Tensor([2], float32, cpu)); read it as 'float32', or cast it first",
    );
    const numbers = y.toNumbers();
    expectTypeOf(numbers).toEqualTypeOf<number[]>();
    expect(numbers).toEqual([1.5, 2.5]);
  });

  it('lets a tensor of a known dtype go wherever a Tensor goes', () => {
    const x: Tensor = tensor([1], [1], { backend: cpu, dtype: 'float64' });
    expect(x.dtype).toBe('float64');
    expectTypeOf<Tensor<'int32'>>().toExtend<Tensor>();
  });
});
