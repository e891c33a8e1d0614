import type { DType, Shape } from '../backend/backend.js';
import { formatShape, normalizeAxis, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { sameBackend, sameDType } from './check.js';
import { runKernel } from './run-kernel.js';

/** The same elements in a new shape; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const backend = sameBackend('reshape', [x]);
  const newShape = inferShape(x, shape);
  return runKernel(backend, [x], newShape, x.dtype, () => backend.reshape(x.handle, x.shape, newShape, x.dtype));
}

function inferShape(x: Tensor, shape: Shape): number[] {
  const unknown = shape.indexOf(-1);
  const known = sizeOf(shape.filter((d) => d !== -1));
  const out = [...shape];
  if (unknown >= 0 && shape.lastIndexOf(-1) === unknown && known > 0 && x.size % known === 0) {
    out[unknown] = x.size / known;
  }
  if (sizeOf(out) !== x.size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`reshape: cannot view ${formatShape(x.shape)} (${x.size} elements) as ${formatShape(shape)}`);
  }
  return out;
}

/** Reorders dimensions: output dimension i is input dimension `perm[i]`. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const backend = sameBackend('permute', [x]);
  const normalized = perm.map((p) => normalizeAxis(p, x.rank, 'permute'));
  if (normalized.length !== x.rank || new Set(normalized).size !== x.rank) {
    throw new RangeError(`permute: [${perm.join(', ')}] is not a permutation of ${x.rank} dimensions`);
  }
  if (normalized.every((p, i) => p === i)) return reshape(x, x.shape);
  const outShape = normalized.map((p) => x.shape[p]!);
  return runKernel(backend, [x], outShape, x.dtype, () => backend.permute(x.handle, x.shape, normalized, x.dtype));
}

/** Swaps two dimensions (the last two by default). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeAxis(dim0, x.rank, 'transpose');
  const b = normalizeAxis(dim1, x.rank, 'transpose');
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/** Merges dimensions `startDim..endDim` (inclusive) into one, as `torch.flatten`. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const start = normalizeAxis(startDim, x.rank, 'flatten');
  const end = normalizeAxis(endDim, x.rank, 'flatten');
  if (start > end) {
    throw new RangeError(`flatten: start dimension ${startDim} comes after end dimension ${endDim} for shape ${formatShape(x.shape)}`);
  }
  const merged = sizeOf(x.shape.slice(start, end + 1));
  return reshape(x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
}

/** Inserts a dimension of size 1 at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const at = normalizeAxis(dim, x.rank + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, at), 1, ...x.shape.slice(at)]);
}

/** The block starting at `begin` with extent `size` (-1: to the end) in every dimension. */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const backend = sameBackend('slice', [x]);
  const outShape = x.shape.map((d, i) => {
    const b = begin[i] ?? 0;
    const s = size[i] === undefined || size[i] === -1 ? d - b : size[i]!;
    if (b < 0 || s < 0 || b + s > d) {
      throw new RangeError(`slice: block at [${begin.join(', ')}] of size [${size.join(', ')}] exceeds ${formatShape(x.shape)}`);
    }
    return s;
  });
  const fullBegin = x.shape.map((_, i) => begin[i] ?? 0);
  return runKernel(backend, [x], outShape, x.dtype, () => backend.slice(x.handle, x.shape, fullBegin, outShape, x.dtype));
}

/** Joins tensors along `axis`. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const backend = sameBackend('concat', xs);
  const dtype = sameDType('concat', xs);
  const first = xs[0]!;
  const ax = normalizeAxis(axis, first.rank, 'concat');
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new RangeError(`concat: shapes ${formatShape(first.shape)} and ${formatShape(x.shape)} differ outside axis ${ax}`);
    }
  }
  const outShape = first.shape.map((d, i) => (i === ax ? xs.reduce((s, x) => s + x.shape[i]!, 0) : d));
  // Empty operands add nothing; a single operand left is the result (with all others empty along the axis).
  const parts = xs.filter((x) => x.size > 0);
  if (parts.length === 1) return reshape(parts[0]!, outShape);
  return runKernel(backend, parts, outShape, dtype, () =>
    backend.concat(
      parts.map((x) => x.handle),
      parts.map((x) => x.shape),
      ax,
      dtype,
    ),
  );
}

/** Constant padding: `before[i]` and `after[i]` elements around dimension i. */
export function pad(x: Tensor, before: readonly number[], after: readonly number[], value = 0): Tensor {
  const backend = sameBackend('pad', [x]);
  if (before.length !== x.rank || after.length !== x.rank || [...before, ...after].some((p) => !Number.isInteger(p) || p < 0)) {
    throw new RangeError(`pad: needs ${x.rank} non-negative integers before and after, got [${before.join(', ')}] and [${after.join(', ')}]`);
  }
  const outShape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  return runKernel(backend, [x], outShape, x.dtype, () => backend.pad(x.handle, x.shape, before, after, value, x.dtype), value);
}

/** Converts to another dtype. */
export function cast(x: Tensor, dtype: DType): Tensor {
  const backend = sameBackend('cast', [x]);
  if (!backend.dtypes.includes(dtype)) {
    throw new TypeError(`cast: backend '${backend.name}' does not support ${dtype}`);
  }
  if (dtype === x.dtype) return reshape(x, x.shape);
  return runKernel(backend, [x], x.shape, dtype, () => backend.cast(x.handle, x.shape, x.dtype, dtype));
}
