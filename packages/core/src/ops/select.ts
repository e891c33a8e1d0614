import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { concat, reshape, slice } from './layout.js';

/**
 * The entries `indices` along `axis`, in that order (repeats allowed), as
 * `torch.index_select`: `[..., d, ...] -> [..., indices.length, ...]`.
 * Runs of consecutive indices are taken as one block each.
 */
export function selectIndices(x: Tensor, axis: number, indices: readonly number[]): Tensor {
  const ax = normalizeAxis(axis, x.rank, 'selectIndices');
  const dim = x.shape[ax]!;
  const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= dim);
  if (bad !== undefined) throw new RangeError(`selectIndices: index ${bad} is out of range for axis ${ax} of size ${dim} (shape ${formatShape(x.shape)})`);
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
