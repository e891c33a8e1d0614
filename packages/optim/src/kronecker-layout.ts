import { formatShape, type Tensor } from '@backpack-ts/core';
import { checkQuantityTensor } from './curvature-quantity.js';
import type { NamedParameter } from './parameters.js';

/**
 * How a parameter's gradient meets its Kronecker factors (the layouts of
 * `@backpack-ts/kronecker`):
 *
 * - `block`: one factor `[p, p]`, the whole curvature block of the flattened
 *   parameter (biases, BatchNorm's scale and shift);
 * - `kronecker`: two factors `G ⊗ A` for the parameter read as a matrix
 *   `[rows, columns]` (row-major), or `groups` such blocks stacked
 *   (`[groups, rows, rows]` ⊗ `[groups, columns, columns]`, grouped
 *   convolutions, the parameter read as `[groups, rows, columns]`);
 *   `transposed` when the factors are for the parameter with its first two
 *   axes swapped (a transposed convolution's kernel).
 */
export type KroneckerLayout =
  | { readonly kind: 'block'; readonly size: number }
  | { readonly kind: 'kronecker'; readonly groups: number; readonly rows: number; readonly columns: number; readonly transposed: boolean };

/**
 * The layout of `entry` under `factors`, or an error naming the optimiser,
 * the parameter and the shapes when the factors do not fit it. `transposed`
 * says the parameter is a transposed convolution's kernel `[in, out, ...k]`.
 */
export function kroneckerLayout(owner: string, entry: NamedParameter, what: string, factors: readonly Tensor[], transposed: boolean): KroneckerLayout {
  const shape = entry.parameter.data.shape;
  const size = entry.parameter.data.size;
  if (factors.length === 1) {
    checkQuantityTensor(owner, entry, `${what} factor`, factors[0]!, [size, size]);
    return { kind: 'block', size };
  }
  if (factors.length !== 2 || shape.length < 2) {
    throw new Error(
      `${owner}: parameter '${entry.name}' of shape ${formatShape(shape)} has ${factors.length} ${what} factors; expected one [p, p] factor, or two (G, A) for a parameter of rank >= 2`,
    );
  }
  const [g, a] = factors as [Tensor, Tensor];
  const grouped = g.rank === 3;
  if (grouped && transposed) {
    throw new Error(`${owner}: parameter '${entry.name}' is the kernel of a transposed convolution with groups > 1, whose ${what} factors this optimiser does not apply`);
  }
  const rows = transposed ? shape[1]! : shape[0]!;
  const groups = grouped ? g.shape[0]! : 1;
  const columns = size / rows;
  if (rows % groups !== 0) {
    throw new Error(`${owner}: parameter '${entry.name}' of shape ${formatShape(shape)} has ${what} factors for ${groups} groups, which do not divide its ${rows} rows`);
  }
  const lead = grouped ? [groups] : [];
  checkQuantityTensor(owner, entry, `${what} factor G`, g, [...lead, rows / groups, rows / groups]);
  checkQuantityTensor(owner, entry, `${what} factor A`, a, [...lead, columns, columns]);
  return { kind: 'kronecker', groups, rows: rows / groups, columns, transposed };
}
