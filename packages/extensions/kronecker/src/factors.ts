/**
 * The Kronecker factors of a Linear-like layer (input `[N, ..., in]`, output
 * `[N, ..., out]`), from the quantity backpropagated to its output.
 *
 * Dimensions between the batch and the features (`...`, S positions in all)
 * are treated like extra batch: each of the N·S positions counts as a sample
 * ("KFAC-expand"). With S = 1 every definition below is the reference's.
 */
import { eye, matmul, mul, reshape, sum, type GraphNode, type Tensor } from '@backpack-ts/core';

/** Features (last dimension) and positions per sample (S, the product of the dimensions in between) of `[N, ..., features]`. */
function featureLayout(t: Tensor): { features: number; positions: number } {
  const features = t.shape[t.rank - 1]!;
  const positions = t.rank <= 2 ? 1 : t.shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return { features, positions };
}

/**
 * The input-side factor `A = (1 / (N·S)) Σ_{n,s} x_{n,s} x_{n,s}ᵀ`, `[in, in]`:
 * the uncentred second moment of the layer's input over batch and positions
 * (`XᵀX / N` for an input `[N, in]`).
 */
export function linearInputFactor(node: GraphNode): Tensor {
  const x = node.input;
  const { features } = featureLayout(x);
  const rows = x.size / features;
  const flat = reshape(x, [rows, features]);
  return mul(matmul(flat, flat, true, false), 1 / rows);
}

/**
 * The output-side factor from a square root `S` of the curvature w.r.t. the
 * layer output, `[V, N, ..., out]`: `Σ_{v,n,s} S[v,n,s] S[v,n,s]ᵀ`, `[out, out]`
 * (KFAC: V Monte-Carlo samples; KFLR: V = loss outputs per sample). The loss's
 * reduction factor is already in `S`.
 */
export function sqrtOutputFactor(sqrt: Tensor): Tensor {
  const out = sqrt.shape[sqrt.rank - 1]!;
  const flat = reshape(sqrt, [sqrt.size / out, out]);
  return matmul(flat, flat, true, false);
}

/**
 * The output-side factor from a batch-averaged matrix `M` over the flattened
 * per-sample output `[S·out, S·out]` (index `(s, o)`, row-major): the sum of
 * its S diagonal blocks, `Σ_s M[(s,o),(s,o')]`, `[out, out]` (`M` itself when
 * S = 1). Cross-position blocks are dropped, as for extra batch.
 */
export function batchAverageOutputFactor(node: GraphNode, mat: Tensor): Tensor {
  const { features, positions } = featureLayout(node.output);
  if (positions === 1) return mat;
  const blocks = reshape(mat, [positions, features, positions, features]);
  const sameBlock = reshape(eye(positions, { backend: mat.backend, dtype: mat.dtype }), [positions, 1, positions, 1]);
  return sum(mul(blocks, sameBlock), [0, 2]);
}
