/**
 * CpuFallbackBackend: a subclass with handles of its own gets every kernel
 * from backend-cpu (through its conversions, with the right dtypes and the
 * kernel's name), keeps the ones it writes, and can leave a call to `super`.
 */
import type { DType, Shape, UnaryOp } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { cpu, CpuFallbackBackend, type CpuHandle, type CpuKernel } from '../src/index.js';

class Box {
  constructor(readonly data: CpuHandle) {}
}

/** Boxes backend-cpu's arrays, records what converts, and does `neg` itself (`abs` it leaves to backend-cpu). */
class Boxed extends CpuFallbackBackend<Box> {
  readonly name = 'boxed';
  readonly dtypes: readonly DType[] = ['float64', 'float32', 'int32'];
  readonly reads: DType[] = [];
  readonly kernels: CpuKernel[] = [];

  protected toCpu(x: Box, _shape: Shape, dtype: DType): CpuHandle {
    this.reads.push(dtype);
    return x.data;
  }

  protected fromCpu(result: CpuHandle, inputs: readonly Box[], kernel: CpuKernel): Box {
    this.kernels.push(kernel);
    return inputs.find((x) => x.data === result) ?? new Box(result);
  }

  override unary(op: UnaryOp, x: Box, shape: Shape, dtype: DType): Box {
    if (op !== 'neg') return super.unary(op, x, shape, dtype);
    return new Box(x.data.map((v) => -v));
  }
}

describe('CpuFallbackBackend', () => {
  it('runs every kernel it does not write on backend-cpu, converting through toCpu and fromCpu', () => {
    const backend = new Boxed();
    const a = backend.fromData([1, -2, 3, -4, 5, -6], [2, 3], 'float64');
    expect(a).toBeInstanceOf(Box);
    const product = backend.matmul(a, [1, 2, 3], a, [1, 2, 3], false, true, 'float64');
    const expected = cpu.matmul(a.data, [1, 2, 3], a.data, [1, 2, 3], false, true, 'float64');
    expect(Array.from(backend.read(product, [1, 2, 2], 'float64'))).toEqual(Array.from(expected));
    expect(backend.kernels).toEqual(['fromData', 'matmul']);
    expect(backend.reads).toEqual(['float64', 'float64', 'float64']);
  });

  it('keeps the kernels a subclass writes, which may hand calls to super', () => {
    const backend = new Boxed();
    const x = backend.fromData([1, -2], [2], 'float32');
    expect(Array.from(backend.read(backend.unary('neg', x, [2], 'float32'), [2], 'float32'))).toEqual([-1, 2]);
    expect(Array.from(backend.read(backend.unary('abs', x, [2], 'float32'), [2], 'float32'))).toEqual([1, 2]);
    expect(backend.kernels).toEqual(['fromData', 'unary']);
  });

  it('reads operands in their own dtype (cast source, int32 indices) and passes results that are inputs back', () => {
    const backend = new Boxed();
    const indices = backend.fromData([2, 0], [2], 'int32');
    const encoded = backend.oneHot(indices, [2], 3, 'float32');
    expect(Array.from(backend.read(encoded, [2, 3], 'float32'))).toEqual([0, 0, 1, 1, 0, 0]);
    const cast = backend.cast(indices, [2], 'int32', 'float64');
    expect(backend.read(cast, [2], 'float64')).toBeInstanceOf(Float64Array);
    expect(backend.reshape(indices, [2], [1, 2], 'int32')).toBe(indices);
    expect(backend.reads).toEqual(['int32', 'float32', 'int32', 'float64', 'int32']);
    expect(backend.kernels).toEqual(['fromData', 'oneHot', 'cast', 'reshape']);
  });

  it('leaves out the optional kernels and the live count; dispose does nothing', () => {
    const backend = new Boxed();
    expect('maxPool' in backend || 'maxPoolTranspose' in backend || 'liveCount' in backend).toBe(false);
    const x = backend.full([2], 7, 'float64');
    backend.dispose(x);
    expect(Array.from(x.data)).toEqual([7, 7]);
  });
});
