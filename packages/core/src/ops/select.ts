/**
 * Selecting entries along one axis by index: `selectIndices` (a list of
 * numbers), `indexSelect` (PyTorch's `index_select`, indices also as an
 * int32 tensor) and `select` (one index, the axis removed). All are slices
 * and a concat, recorded as such; indices carry no gradient.
 */
import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { concat, reshape, slice } from './layout.js';

/**
 * The entries `indices` along `axis`, in that order (repeats allowed), as
 * `torch.index_select`: `[..., d, ...] -> [..., indices.length, ...]`.
 * Runs of consecutive indices are taken as one block each.
 */
export function selectIndices(x: Tensor, axis: number, indices: readonly number[]): Tensor {
  return takeIndices('selectIndices', x, axis, indices);
}

/** {@link selectIndices}, with messages naming `op`. */
function takeIndices(op: string, x: Tensor, axis: number, indices: readonly number[]): Tensor {
  const ax = normalizeAxis(axis, x.rank, op);
  const dim = x.shape[ax]!;
  const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= dim);
  if (bad !== undefined) throw new RangeError(`${op}: index ${bad} is out of range for axis ${ax} of size ${dim} (shape ${formatShape(x.shape)})`);
  if (indices.length === 0) return slice(x, x.shape.map(() => 0), x.shape.map((d, i) => (i === ax ? 0 : d)));
  const blocks: Tensor[] = [];
  for (let k = 0; k < indices.length; ) {
    let end = k + 1;
    while (end < indices.length && indices[end] === indices[end - 1]! + 1) end++;
    const begin = x.shape.map((_, i) => (i === ax ? indices[k]! : 0));
    blocks.push(slice(x, begin, x.shape.map((d, i) => (i === ax ? end - k : d))));
    k = end;
  }
  return blocks.length === 1 ? reshape(blocks[0]!, blocks[0]!.shape) : concat(blocks, ax);
}

/**
 * The entries `indices` along `dim`, in that order (repeats allowed), as
 * `torch.index_select(x, dim, indices)`: `[..., d, ...] -> [..., k, ...]`
 * for `k` indices, given as numbers or as a one-dimensional int32 tensor
 * (read back to JavaScript: a synchronisation point on native backends).
 * Negative indices are errors, as in PyTorch.
 */
export function indexSelect(x: Tensor, dim: number, indices: Tensor | readonly number[]): Tensor {
  return takeIndices('indexSelect', x, dim, indexList('indexSelect', indices));
}

/** Indices given as numbers or as a one-dimensional int32 tensor, as numbers. */
function indexList(op: string, indices: Tensor | readonly number[]): readonly number[] {
  if (!('isTensor' in indices)) return indices;
  if (indices.dtype !== 'int32' || indices.rank !== 1) {
    throw new TypeError(`${op}: indices must be a one-dimensional int32 tensor, got ${indices.dtype} of shape ${formatShape(indices.shape)}`);
  }
  return Array.from(indices.toArray());
}

/**
 * The slice at `index` along `dim`, with that dimension removed, as
 * `torch.select` (`x[:, i]` for `dim` 1): `[a, d, b] -> [a, b]`. A negative
 * `index` counts from the end.
 */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const ax = normalizeAxis(dim, x.rank, 'select');
  const size = x.shape[ax]!;
  if (!Number.isInteger(index) || index < -size || index >= size) {
    throw new RangeError(`select: index ${index} is out of range for dimension ${ax} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  const at = index < 0 ? index + size : index;
  const block = slice(x, x.shape.map((_, i) => (i === ax ? at : 0)), x.shape.map((d, i) => (i === ax ? 1 : d)));
  return reshape(block, x.shape.filter((_, i) => i !== ax));
}
