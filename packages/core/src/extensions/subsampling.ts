import type { GraphNode } from '../modules/leaf-module.js';
import { selectIndices } from '../ops/select.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * BackPACK's `subsampling` option, validated: undefined (every sample), or
 * the indices of the samples to compute per-sample quantities for (in that
 * order; repeats allowed, as PyTorch's indexing). Throws, naming `owner`,
 * unless it is a non-empty list of non-negative integers.
 */
export function validateSubsampling(owner: string, subsampling: readonly number[] | undefined): readonly number[] | undefined {
  if (subsampling === undefined) return undefined;
  if (!Array.isArray(subsampling) || subsampling.length === 0 || subsampling.some((i) => !Number.isInteger(i) || i < 0)) {
    throw new RangeError(`${owner}: subsampling must be a non-empty list of sample indices (non-negative integers), got ${JSON.stringify(subsampling)}`);
  }
  return [...subsampling];
}

/** Throws, naming `owner`, if an index of `subsampling` is not a sample of the batch `root` (the loss's call) saw. */
export function checkSubsamplingFits(owner: string, subsampling: readonly number[] | undefined, root: GraphNode): void {
  const n = root.batchSize;
  const bad = subsampling?.find((i) => i >= n);
  if (bad !== undefined) throw new RangeError(`${owner}: subsampling index ${bad} is out of range for a batch of ${n} samples`);
}

/**
 * A recorded call (not the loss's) and the gradient at its output,
 * restricted to the samples `subsampling`; both unchanged without it.
 */
export function restrictCall(
  node: GraphNode,
  gradOutput: Tensor,
  subsampling: readonly number[] | undefined,
): {
  /** The call restricted to the chosen samples. */
  node: GraphNode;
  /** The output gradient of the chosen samples. */
  gradOutput: Tensor;
} {
  if (subsampling === undefined) return { node, gradOutput };
  return { node: node.module.restrictToSamples(node, subsampling), gradOutput: selectIndices(gradOutput, 0, subsampling) };
}

/** Entries of one chunk's per-sample result that {@link sampleChunks} aims at (32 MiB of float64). */
export const CHUNK_ENTRIES = 1 << 22;

/**
 * The samples `0..n-1` (or `subset`) in consecutive chunks whose per-sample
 * results of `entriesPerSample` entries stay near {@link CHUNK_ENTRIES}: how
 * the convolutions' memory mode (BackPACK's `weight_jac_t_save_memory`,
 * `convSaveMemory` here) bounds what one product holds.
 */
export function sampleChunks(n: number, entriesPerSample: number): number[][] {
  const size = Math.max(1, Math.floor(CHUNK_ENTRIES / Math.max(1, entriesPerSample)));
  const chunks: number[][] = [];
  for (let start = 0; start < n; start += size) chunks.push(Array.from({ length: Math.min(size, n - start) }, (_, i) => start + i));
  return chunks;
}
