import type { Shape } from './backend.js';

/** The sizes of a batched product as `Backend.matmul` receives it. */
export interface MatmulDims {
  /** Batch size of the first operand (1 when it has no batch dimension). */
  readonly batchA: number;
  /** Batch size of the second operand (1 when it has no batch dimension). */
  readonly batchB: number;
  /** The broadcast batch: a batch of 1 broadcasts (so 0 against 1 is empty, unlike max()). */
  readonly batch: number;
  /** Rows of the product. */
  readonly m: number;
  /** The contracted dimension. */
  readonly k: number;
  /** Columns of the product. */
  readonly n: number;
}

/**
 * Reads `m`, `k`, `n` and the batches off the operand shapes of
 * `Backend.matmul` (`[batchA, m, k]`, or `[batchA, k, m]` when `transA`;
 * `[batchB, k, n]`, or `[batchB, n, k]` when `transB`), so every backend
 * interprets the contract the same way.
 */
export function matmulDims(aShape: Shape, bShape: Shape, transA: boolean, transB: boolean): MatmulDims {
  const [batchA, aRows, aCols] = aShape as [number, number, number];
  const [batchB, bRows, bCols] = bShape as [number, number, number];
  return {
    batchA,
    batchB,
    batch: batchA === 1 ? batchB : batchA,
    m: transA ? aCols : aRows,
    k: transA ? aRows : aCols,
    n: transB ? bRows : bCols,
  };
}
