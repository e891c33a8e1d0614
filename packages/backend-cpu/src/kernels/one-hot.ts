/** One-hot encoding of class indices. */
import type { FloatDType } from '@backpack-ts/core';
import type { CpuHandle } from '../storage.js';
import { allocate } from '../storage.js';

/** `[...S, depth]` with a 1 at each index of the int32 `indices` (shape S) and 0 elsewhere. */
export function oneHot(indices: CpuHandle, depth: number, dtype: FloatDType): CpuHandle {
  const out = allocate(dtype, indices.length * depth);
  for (let i = 0; i < indices.length; i++) out[i * depth + indices[i]] = 1;
  return out;
}
