import type { Shape } from './backend.js';

/** The sizes of a batched product as `Backend.matmul` receives it. */
export interface MatmulDims {
  readonly batchA: number;
  readonly batchB: number;
  /** The broadcast batch: a batch of 1 broadcasts (so 0 against 1 is empty, unlike max()). */
  readonly batch: number;
  readonly m: number;
  readonly k: number;
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
