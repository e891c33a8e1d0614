/**
 * `gather` (PyTorch's `torch.gather`): entries picked along one dimension by
 * an int32 index tensor, e.g. the logit of each sample's target class.
 *
 * With the index's shape split around `dim` as `[A, J, B]` (the products of
 * the dimensions before and after it) and `x` read as `[A, D, B]`, the op is
 * `out[a, j, b] = x[a, index[a, j, b], b]`: a product with a constant
 * one-hot tensor `P[a, b, j, d] = (index[a, j, b] == d)`, one einsum on every
 * backend. It is linear in `x`, so the JVP is the same product and the VJP
 * the transposed one (a scatter-add); indices carry no gradient.
 *
 * Sample mixing (axis 0 of `x` and of the output read as the batch axis):
 * gathering along dimension 0 reads other samples' rows, and an index with
 * fewer rows than `x` drops samples; otherwise output row n reads row n.
 */
import type { OpDerivatives } from '../tensor/autograd.js';
import { noGrad } from '../tensor/autograd.js';
import { formatShape, normalizeAxis, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertFloat, sameBackend } from './check.js';
import { tensor } from './create.js';
import { einsum } from './einsum.js';
import { pad, reshape, slice } from './layout.js';
import { leadingShape, record } from './record.js';

/**
 * The entries of `x` along `dim` at the positions `index` gives, as
 * `torch.gather(x, dim, index)`: the output has the index's shape, and
 * `out[i][j][k] = x[index[i][j][k]][j][k]` for `dim` 0 (likewise for other
 * dimensions). `index` is an int32 tensor of `x`'s rank, at most as large as
 * `x` in every dimension but `dim`, with entries in `[0, x.shape[dim])`; it
 * is read back to JavaScript (a synchronisation point on native backends).
 * `x` is float; gradients flow to the gathered entries (summed where an
 * entry is gathered more than once).
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const backend = sameBackend('gather', [x, index]);
  assertFloat('gather', x);
  if (index.dtype !== 'int32') throw new TypeError(`gather: the index must be an int32 tensor, got ${index.dtype}`);
  if (index.rank !== x.rank || x.rank === 0) {
    throw new RangeError(`gather: the index ${formatShape(index.shape)} must have the rank of the input ${formatShape(x.shape)} (at least 1)`);
  }
  const ax = normalizeAxis(dim, x.rank, 'gather');
  const tooLarge = index.shape.findIndex((d, i) => i !== ax && d > x.shape[i]!);
  if (tooLarge >= 0) {
    throw new RangeError(
      `gather: the index ${formatShape(index.shape)} is larger than the input ${formatShape(x.shape)} in dimension ${tooLarge} (only dimension ${ax}, the gathered one, may differ)`,
    );
  }
  // The part of x the index addresses: its shape, except all of dimension `ax`.
  const readShape = index.shape.map((d, i) => (i === ax ? x.shape[ax]! : d));
  const [a, j, b, d] = [sizeOf(index.shape.slice(0, ax)), index.shape[ax]!, sizeOf(index.shape.slice(ax + 1)), x.shape[ax]!];
  const positions = index.toArray();
  const oneHot = new Float64Array(a * b * j * d);
  positions.forEach((position, flat) => {
    if (position < 0 || position >= d) {
      throw new RangeError(`gather: index ${position} is out of range for dimension ${ax} of size ${d} (input ${formatShape(x.shape)})`);
    }
    // flat = (ai * j + ji) * b + bi in the index; P is [A, B, J, D].
    const [ai, ji, bi] = [Math.floor(flat / (j * b)), Math.floor(flat / b) % j, flat % b];
    oneHot[((ai * b + bi) * j + ji) * d + position] = 1;
  });
  const p = tensor(oneHot, [a, b, j, d], { backend, dtype: x.dtype });
  // [...lead, A, D, B] -> [...lead, ...index.shape], and its transpose.
  const forward = (v: Tensor, lead: readonly number[]) =>
    reshape(einsum('ladb,abjd->lajb', reshape(v, [sizeOf(lead), a, d, b]), p), [...lead, ...index.shape]);
  const transposed = (g: Tensor, lead: readonly number[]) =>
    reshape(einsum('lajb,abjd->ladb', reshape(g, [sizeOf(lead), a, j, b]), p), [...lead, ...readShape]);
  const zerosBefore = (n: number) => new Array<number>(n).fill(0);
  const after = x.shape.map((size, i) => size - readShape[i]!);
  const derivatives = (): OpDerivatives => ({
    vjp: (g) => {
      const lead = leadingShape(g, index.rank);
      return [pad(transposed(g, lead), zerosBefore(g.rank), [...zerosBefore(lead.length), ...after])];
    },
    jvp: ([t]) => {
      const lead = leadingShape(t!, x.rank);
      return forward(slice(t!, zerosBefore(t!.rank), [...lead, ...readShape]), lead);
    },
  });
  const out = noGrad(() => forward(slice(x, zerosBefore(x.rank), readShape), []));
  return record('gather', [x], out, derivatives, ax === 0 || index.shape[0] !== x.shape[0]);
}
