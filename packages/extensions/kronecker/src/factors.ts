/**
 * The Kronecker factors of a Linear-like layer (input `[N, ..., in]`, output
 * `[N, ..., out]`), from the quantity backpropagated to its output.
 *
 * Dimensions between the batch and the features (`...`, S positions in all)
 * are treated like extra batch: each of the N·S positions counts as a sample
 * ("KFAC-expand"). With S = 1 every definition below is the reference's.
 */
import {
  einsum,
  eye,
  fold,
  matmul,
  mul,
  ones,
  permute,
  reshape,
  sum,
  unfold,
  type ConvNd,
  type ConvTransposeNd,
  type Embedding,
  type GraphNode,
  type Tensor,
} from '@backpack-ts/core';

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

/**
 * The channel factor of a layer whose output is `[N, C, ...spatial]`
 * (convolutions, BatchNorm), from a square root `S` `[V, N, C, ...spatial]`:
 * `Σ_{v,n} s[v,n] s[v,n]ᵀ` with `s = Σ_positions S`, `[C, C]`. This is the
 * exact (KFLR) or sampled (KFAC) GGN of a per-channel bias, and the reference's
 * output-side factor of a convolution weight (its `|T| Γ`, KFC's Γ times the
 * number of output positions).
 */
export function sqrtChannelFactor(sqrt: Tensor): Tensor {
  const [v, n, c] = [sqrt.shape[0]!, sqrt.shape[1]!, sqrt.shape[2] ?? 1];
  const spatialAxes = sqrt.shape.map((_, i) => i).filter((i) => i >= 3);
  const summed = spatialAxes.length === 0 ? sqrt : sum(sqrt, spatialAxes);
  const flat = reshape(summed, [v * n, c]);
  return matmul(flat, flat, true, false);
}

/**
 * The channel factor from a batch-averaged matrix `M` over the flattened
 * per-sample output `[C·P, C·P]` (index `(c, p)`, P positions): every block
 * summed, `Σ_{p,q} M[(c,p),(c',q)]`, `[C, C]` (the reference's KFRA factor of
 * convolutions: cross-position terms included, as in the bias GGN).
 */
export function batchAverageChannelFactor(node: GraphNode, mat: Tensor): Tensor {
  const shape = node.output.shape;
  const channels = shape[1] ?? 1;
  const positions = shape.slice(2).reduce((a, b) => a * b, 1);
  if (positions === 1) return reshape(mat, [channels, channels]);
  return sum(reshape(mat, [channels, positions, channels, positions]), [1, 3]);
}

/**
 * The GGN block of parameter `name` (flattened, `[p, p]`) from a square root
 * `S` at the module's output: `Σ_{v,n} P[v,n] P[v,n]ᵀ` with the per-sample
 * `P = J_θᵀ S` (`paramJacTMatProd`). Exact for KFLR, sampled for KFAC; for
 * parameters whose Jacobian changes from sample to sample (BatchNorm's scale).
 */
export function sqrtParameterFactor(node: GraphNode, name: string, sqrt: Tensor): Tensor {
  const p = node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false });
  const flat = reshape(p, [p.shape[0]! * p.shape[1]!, -1]);
  return matmul(flat, flat, true, false);
}

/**
 * KFRA's block for parameter `name`: `(1/N) Σ_n J_nᵀ M J_n` (J_n the
 * per-sample Jacobian of the output w.r.t. the flattened parameter, `M` the
 * batch-averaged matrix at the output, `[D, D]`), `[p, p]`. With the batch
 * sum of the loss Hessian in M this is the expectation approximation of the
 * parameter's GGN block, as KFRA's other factors. Two passes of the
 * module's `paramJacTMatProd`, at a cost of `N·D·p`.
 */
export function batchAverageParameterFactor(node: GraphNode, name: string, mat: Tensor): Tensor {
  const n = node.batchSize;
  const outShape = node.output.shape.slice(1);
  const d = mat.shape[0]!;
  // Row r of M for every sample: [D, N, ...out]; M J_n as [D, N, p].
  const rows = mul(reshape(mat, [d, 1, ...outShape]), ones([1, n, ...outShape], { backend: mat.backend, dtype: mat.dtype }));
  const mj = reshape(node.module.paramJacTMatProd(node, name, rows, { sumBatch: false }), [d, n, -1]);
  const size = mj.shape[2]!;
  // Column q of M J_n as a vector of sample n: [p, N, ...out]; then Σ_n J_nᵀ (M J_n)[:, q].
  const columns = reshape(permute(mj, [2, 1, 0]), [size, n, ...outShape]);
  const block = reshape(node.module.paramJacTMatProd(node, name, columns, { sumBatch: true }), [size, size]);
  return mul(block, 1 / n);
}

/**
 * Diagonal blocks of a `[C, C]` factor for G channel groups: `[G, C/G, C/G]`
 * (block g couples the channels of group g).
 */
export function groupBlocks(factor: Tensor, groups: number): Tensor {
  const c = factor.shape[0]!;
  if (groups === 1) return reshape(factor, [c, c]);
  const size = c / groups;
  const blocks = reshape(factor, [groups, size, groups, size]);
  const sameGroup = reshape(eye(groups, { backend: factor.backend, dtype: factor.dtype }), [groups, 1, groups, 1]);
  return sum(mul(blocks, sameGroup), 2);
}

/**
 * The input-side factor of a convolution from its unfolded input
 * `U` `[N, C·K, L]`: `(1/N) Σ_n U_n U_nᵀ` (the reference's Ω: summed over the
 * L output positions, divided by N only), `[C·K, C·K]`; with G groups one
 * block per group, `[G, C/G·K, C/G·K]`.
 */
export function unfoldedInputFactor(columns: Tensor, groups: number): Tensor {
  const [n, rows, positions] = columns.shape as [number, number, number];
  const size = rows / groups;
  const grouped = reshape(columns, [n, groups, size, positions]);
  const factor = mul(einsum('ngal,ngbl->gab', grouped, grouped), 1 / n);
  return groups === 1 ? reshape(factor, [size, size]) : factor;
}

/** The convolution's input factor (see {@link unfoldedInputFactor}), from the unfolded input the forward pass saved. */
export function convInputFactor(node: GraphNode): Tensor {
  const module = node.module as ConvNd;
  const columns = node.saved['columns'] ?? unfold(node.input, module.window);
  return unfoldedInputFactor(columns, module.groups);
}

/**
 * The input "unfolded by the transposed convolution", `[N, C_in·K, L_out]`:
 * entry `[n, (c, k), x]` is the input element that kernel offset k carries to
 * output position x (zero if none), so that the output is `Wᵀ·X` per group
 * with the weight read as `[out, in/G·K]` (its transpose). Built with `fold`:
 * one column of the window per `(c, k)`, `N·C_in·K²·L_in` entries on the way.
 * Output padding is part of it: the positions it adds are where they are.
 */
export function convTransposeUnfoldedInput(node: GraphNode): Tensor {
  const module = node.module as ConvTransposeNd;
  const input = node.saved['paddedInput'] ?? node.input;
  const [n, c] = [input.shape[0]!, input.shape[1]!];
  const positions = input.size / (n * c);
  const k = module.kernelSize.reduce((a, b) => a * b, 1);
  const identity = reshape(eye(k, { backend: input.backend, dtype: input.dtype }), [1, 1, k, k, 1]);
  const columns = reshape(mul(reshape(input, [n, c, 1, 1, positions]), identity), [n, c * k * k, positions]);
  const outSpatial = node.output.shape.slice(2);
  return reshape(fold(columns, outSpatial, module.window), [n, c * k, -1]);
}

/** The transposed convolution's input factor, from {@link convTransposeUnfoldedInput}. */
export function convTransposeInputFactor(node: GraphNode): Tensor {
  return unfoldedInputFactor(convTransposeUnfoldedInput(node), (node.module as ConvTransposeNd).groups);
}

/**
 * The input-side factor of an Embedding: the second moment of its one-hot
 * input over batch and positions, `(1/(N·S)) Σ e eᵀ` (`[num, num]`,
 * diagonal: the frequency of each index), as Linear's `A` for the one-hot
 * vectors.
 */
export function embeddingInputFactor(node: GraphNode): Tensor {
  const module = node.module as Embedding;
  const oneHot = reshape(node.saved['oneHot']!, [-1, module.numEmbeddings]);
  return mul(matmul(oneHot, oneHot, true, false), 1 / oneHot.shape[0]!);
}
