/**
 * Per-sample weight gradients that are sums of outer products over
 * positions: for convolutions, transposed convolutions and embeddings the
 * gradient of sample n is, per channel group g,
 *
 *     grad_n[g] = Σ_l left[n, g, :, l] right[n, g, :, l]ᵀ     ([A, B] per group),
 *
 * and reshaping `[G, A, B]` gives the weight's own layout. From these factors
 * the first-order statistics are computed without holding `[N, ...weight]`:
 *
 * - ‖grad_n‖² = Σ_g Σ_{l,m} (leftᵀ left)[l, m] (rightᵀ right)[l, m], the
 *   position Gram matrices (`[N, G, L, L]`), when `L² < A·B`;
 * - otherwise, and for Σ_n grad_n² (no such identity), the per-sample
 *   gradients are built a chunk of samples at a time, so that no more than
 *   about the factors' own size is held at once.
 */
import {
  ConvNd,
  ConvTransposeNd,
  Embedding,
  add,
  concat,
  div,
  einsum,
  mul,
  pad,
  permute,
  reshape,
  slice,
  square,
  sub,
  sum,
  unfold,
  windowOutputSize,
  type GraphNode,
  type Tensor,
} from '@backpack-ts/core';

/** `grad_n = Σ_l left[n, g, :, l] right[n, g, :, l]ᵀ`, reshaped to `shape` (the weight's). */
export interface FactoredGradient {
  /** `[N, G, A, L]`. */
  readonly left: Tensor;
  /** `[N, G, B, L]`. */
  readonly right: Tensor;
  /** The weight's shape (`G·A·B` entries, row-major `[G, A, B]`). */
  readonly shape: readonly number[];
}

/**
 * Convolution `[out, in/G, ...k]`: left = output gradient `[N, G, out/G, L]`,
 * right = the unfolded input `[N, G, in/G·K, L]` (L = output positions).
 */
export function convGradientFactors(node: GraphNode, gradOutput: Tensor): FactoredGradient {
  const module = node.module as ConvNd;
  const n = node.batchSize;
  const g = module.groups;
  const columns = node.saved['columns'] ?? unfold(node.input, module.window);
  const positions = columns.shape[2]!;
  return {
    left: reshape(gradOutput, [n, g, module.outChannels / g, positions]),
    right: reshape(columns, [n, g, columns.shape[1]! / g, positions]),
    shape: module.weight.data.shape,
  };
}

/**
 * Transposed convolution `[in, out/G, ...k]`: left = the input `[N, G, in/G, L]`
 * (zero-padded at the end when `outputPadding` adds window positions), right =
 * the output gradient unfolded over the output grid `[N, G, out/G·K, L]`
 * (L = window positions, one per input element).
 */
export function convTransposeGradientFactors(node: GraphNode, gradOutput: Tensor): FactoredGradient {
  const module = node.module as ConvTransposeNd;
  const n = node.batchSize;
  const g = module.groups;
  const columns = unfold(gradOutput, module.window);
  const positions = columns.shape[2]!;
  // The forward pass saves the padded input when output padding adds window positions past the input.
  let input = node.saved['paddedInput'] ?? node.input;
  if (input.size / (n * module.inChannels) !== positions) {
    const spatial = input.shape.slice(2);
    const target = windowOutputSize(gradOutput.shape.slice(2), module.window);
    const after = [0, 0, ...target.map((t, d) => t - spatial[d]!)];
    input = pad(input, after.map(() => 0), after);
  }
  return {
    left: reshape(input, [n, g, module.inChannels / g, positions]),
    right: reshape(columns, [n, g, columns.shape[1]! / g, positions]),
    shape: module.weight.data.shape,
  };
}

/**
 * Embedding `[num, dim]`: left = the one-hot indices `[N, 1, num, S]`, right =
 * the output gradient `[N, 1, dim, S]` (S = index positions per sample).
 */
export function embeddingGradientFactors(node: GraphNode, gradOutput: Tensor): FactoredGradient {
  const module = node.module as Embedding;
  const n = node.batchSize;
  const oneHot = reshape(node.saved['oneHot']!, [n, -1, module.numEmbeddings]);
  const positions = oneHot.shape[1]!;
  const grad = reshape(gradOutput, [n, positions, module.embeddingDim]);
  return {
    left: reshape(permute(oneHot, [0, 2, 1]), [n, 1, module.numEmbeddings, positions]),
    right: reshape(permute(grad, [0, 2, 1]), [n, 1, module.embeddingDim, positions]),
    shape: module.weight.data.shape,
  };
}

function sizes(f: FactoredGradient): { n: number; g: number; a: number; b: number; l: number } {
  const [n, g, a, l] = f.left.shape as [number, number, number, number];
  return { n, g, a, b: f.right.shape[2]!, l };
}

/** The per-sample gradients of samples `[start, start + count)`, `[count, ...shape]`. */
function perSampleChunk(f: FactoredGradient, start: number, count: number): Tensor {
  const { n, g, a, b, l } = sizes(f);
  const whole = start === 0 && count === n;
  const left = whole ? f.left : slice(f.left, [start, 0, 0, 0], [count, g, a, l]);
  const right = whole ? f.right : slice(f.right, [start, 0, 0, 0], [count, g, b, l]);
  return reshape(einsum('ngal,ngbl->ngab', left, right), [count, ...f.shape]);
}

/** The per-sample gradients `[N, ...shape]`. */
export function factoredPerSample(f: FactoredGradient): Tensor {
  return perSampleChunk(f, 0, f.left.shape[0]!);
}

/**
 * Samples per chunk so that a chunk of per-sample gradients holds no more
 * entries than the factors themselves (at least one sample).
 */
function chunkSize(f: FactoredGradient): number {
  const { n, g, a, b } = sizes(f);
  const perSample = g * a * b;
  return Math.max(1, Math.min(n, Math.floor((f.left.size + f.right.size) / perSample)));
}

/** Applies `reduce` to chunks of per-sample gradients and combines the results with `combine`. */
function overChunks(f: FactoredGradient, reduce: (chunk: Tensor) => Tensor, combine: (parts: Tensor[]) => Tensor): Tensor {
  const n = f.left.shape[0]!;
  const chunk = chunkSize(f);
  const parts: Tensor[] = [];
  for (let start = 0; start < n; start += chunk) parts.push(reduce(perSampleChunk(f, start, Math.min(chunk, n - start))));
  return parts.length === 1 ? parts[0]! : combine(parts);
}

/** `Σ_n grad_n²`, `[...shape]`, built a chunk of samples at a time. */
export function factoredSumGradSquared(f: FactoredGradient): Tensor {
  return overChunks(
    f,
    (chunk) => sum(square(chunk), 0),
    (parts) => parts.reduce((total, part) => add(total, part)),
  );
}

/**
 * `(1/N) Σ_n (grad_n - grad / N)²`, `[...shape]`, from chunks of per-sample
 * gradients centred before squaring (no cancellation); `grad` is the summed
 * gradient.
 */
export function factoredVariance(f: FactoredGradient, grad: Tensor): Tensor {
  const n = f.left.shape[0]!;
  const mean = div(grad, n);
  const sumOfSquares = overChunks(
    f,
    (chunk) => sum(square(sub(chunk, mean)), 0),
    (parts) => parts.reduce((total, part) => add(total, part)),
  );
  return div(sumOfSquares, n);
}

/**
 * `‖grad_n‖²` for each sample, `[N]`: through the position Gram matrices
 * (`[N, G, L, L]`) when `L² < A·B`, else from chunks of per-sample gradients.
 */
export function factoredBatchL2(f: FactoredGradient): Tensor {
  const { a, b, l } = sizes(f);
  if (l * l < a * b) {
    const leftGram = einsum('ngal,ngam->nglm', f.left, f.left);
    const rightGram = einsum('ngbl,ngbm->nglm', f.right, f.right);
    return sum(mul(leftGram, rightGram), [1, 2, 3]);
  }
  return overChunks(
    f,
    (chunk) => sum(square(reshape(chunk, [chunk.shape[0]!, -1])), 1),
    (parts) => concat(parts, 0),
  );
}
