import type { DType, FloatDType } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';

/** Throws unless every tensor lives on the same backend and is alive; returns that backend. */
export function sameBackend(op: string, tensors: readonly Tensor[]) {
  const first = tensors[0];
  if (first === undefined) throw new Error(`${op}: needs at least one tensor`);
  for (const t of tensors) {
    t.assertAlive(op);
    if (t.backend !== first.backend) {
      throw new Error(
        `${op}: tensors live on different backends ('${first.backend.name}' and '${t.backend.name}'); move them to one backend first`,
      );
    }
  }
  return first.backend;
}

/** Throws unless every tensor has the same dtype; returns it. */
export function sameDType(op: string, tensors: readonly Tensor[]): DType {
  const dtype = tensors[0]!.dtype;
  for (const t of tensors) {
    if (t.dtype !== dtype) throw new TypeError(`${op}: dtypes differ (${dtype} and ${t.dtype}); cast one first`);
  }
  return dtype;
}

/** Whether `dtype` is a floating point dtype (`float32` or `float64`). */
export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype === 'float32' || dtype === 'float64';
}

/** Throws unless the tensor holds floating point numbers. */
export function assertFloat(op: string, t: Tensor): FloatDType {
  if (!isFloat(t.dtype)) throw new TypeError(`${op}: expects a float32 or float64 tensor, got ${t.dtype}`);
  return t.dtype;
}
