import { sizeOf, type DType, type Shape } from '@backpack-ts/core';

/** CPU storage: a dense row-major typed array whose element type matches the dtype. */
export type CpuHandle = Float32Array | Float64Array | Int32Array;

/** A zero-filled array of `size` elements of `dtype`. */
export function allocate(dtype: DType, size: number): CpuHandle {
  switch (dtype) {
    case 'float64':
      return new Float64Array(size);
    case 'float32':
      return new Float32Array(size);
    case 'int32':
      return new Int32Array(size);
  }
}

const ARRAY_TYPES = { float64: Float64Array, float32: Float32Array, int32: Int32Array } as const;

/** Throws unless `out` can hold a result of `dtype` and `length` (a kernel's caller-provided output). */
export function checkOutput(kernel: string, out: CpuHandle, dtype: DType, length: number): void {
  if (!(out instanceof ARRAY_TYPES[dtype]) || out.length !== length) {
    throw new RangeError(`cpu.${kernel}: the output buffer is a ${out.constructor.name} of ${out.length} elements, the result needs ${length} ${dtype} elements`);
  }
}

/** Copies `data` into new storage, converting to `dtype`. */
export function fromData(data: ArrayLike<number>, shape: Shape, dtype: DType): CpuHandle {
  const size = sizeOf(shape);
  if (data.length !== size) {
    throw new RangeError(`cpu.fromData: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  }
  const out = allocate(dtype, size);
  out.set(data);
  return out;
}

/** New storage with every element set to `value`. */
export function full(shape: Shape, value: number, dtype: DType): CpuHandle {
  const out = allocate(dtype, sizeOf(shape));
  // Fresh typed arrays are already +0; Object.is keeps a requested -0.
  if (!Object.is(value, 0)) out.fill(value);
  return out;
}

/**
 * Converts to another dtype. Typed-array assignment does the conversion:
 * float to int32 truncates toward zero, int32 to float is exact.
 */
export function cast(x: CpuHandle, from: DType, to: DType): CpuHandle {
  // Storage is immutable by convention, so an identity cast can share it.
  if (from === to) return x;
  const out = allocate(to, x.length);
  out.set(x);
  return out;
}
