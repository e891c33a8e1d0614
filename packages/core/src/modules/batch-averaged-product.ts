import { mean } from '../ops/reduce.js';
import { ones } from '../ops/create.js';
import { mul } from '../ops/elementwise.js';
import { permute, reshape } from '../ops/layout.js';
import { sizeOf } from '../tensor/shape.js';
import type { Shape } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The batch-averaged product `(1/N) Σ_n J_nᵀ M J_n` (KFRA's expectation
 * approximation) of any map whose Jacobian is per sample (it does not mix
 * samples), from its transposed-Jacobian product alone: `jacTMatProd` maps
 * `[V, N, ...output]` to `[V, N, ...input]` (a module's `jacTMatProd`, an
 * op's VJP). `mat` is a symmetric `[D_out, D_out]` over the flattened
 * per-sample output; returns `[D_in, D_in]`.
 *
 * Applies the product twice, at a cost of `N D_out D_in` memory; modules with
 * structure override `eaJacTMatJacProd` with something cheaper.
 */
export function batchAveragedJacTMatJacProd(
  jacTMatProd: (mat: Tensor) => Tensor,
  outputShape: Shape,
  inputShape: Shape,
  mat: Tensor,
): Tensor {
  const n = inputShape[0] ?? 1;
  const [outShape, inShape] = [outputShape.slice(1), inputShape.slice(1)];
  const [dOut, dIn] = [sizeOf(outShape), sizeOf(inShape)];
  // Row v of M, repeated for every sample: [D_out, N, ...out].
  const rows = mul(reshape(mat, [dOut, 1, ...outShape]), ones([1, n, ...outShape], { backend: mat.backend, dtype: mat.dtype }));
  // (M J_n) for every sample, as [D_out, N, D_in]; M is symmetric, so its rows are its columns.
  const mJ = reshape(jacTMatProd(rows), [dOut, n, dIn]);
  // Columns of M J_n become the vectors: [D_in, N, ...out].
  const columns = reshape(permute(mJ, [2, 1, 0]), [dIn, n, ...outShape]);
  const jMJ = reshape(jacTMatProd(columns), [dIn, n, dIn]);
  return mean(jMJ, 1);
}
