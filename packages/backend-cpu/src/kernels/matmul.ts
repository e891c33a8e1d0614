/**
 * Batched matrix product, structured like a BLIS/GotoBLAS GEMM adapted to
 * scalar JavaScript:
 *
 * - Blocks of A and B are first packed into contiguous Float64Array panels:
 *   strips of TILE rows (of A) or TILE columns (of B), interleaved along the
 *   shared depth. Packing absorbs the transpose flags (it reads through
 *   strides), converts float32 to doubles once instead of in the inner loop,
 *   and zero-pads ragged edges so the micro-kernel never needs bounds logic.
 * - The micro-kernel computes a TILE x TILE block of C in 16 local variables
 *   (which V8 keeps mostly in registers), loading 2 * TILE values per
 *   2 * TILE * TILE flops. 4 x 4 measured as fast as any larger tile: V8 has
 *   only 16 floating-point registers to work with.
 * - Block sizes keep a packed A block (128 KiB) in L2 and the current B strip
 *   (8 KiB) in L1 while the micro-kernel sweeps over them.
 * - Sums run in doubles within a DEPTH_BLOCK and are then added into C, so a
 *   float32 result is rounded once per 256 terms of each dot product.
 * - Products thinner than a tile (matrix-vector) skip packing altogether.
 */
import { matmulDims, type DType, type Shape } from '@backpack-ts/core';
import { Float64Scratch } from '../scratch.js';
import type { CpuHandle } from '../storage.js';
import { allocate } from '../storage.js';

/** Rows and columns of C computed per micro-kernel call. */
const TILE = 4;
/** Depth (k) of a packed panel. */
const DEPTH_BLOCK = 256;
/** Rows of A packed at once: 64 x 256 doubles = 128 KiB. */
const ROW_BLOCK = 64;
/** Columns of B packed at once: 512 x 256 doubles = 1 MiB. */
const COL_BLOCK = 512;

/** Pack buffers reused by every call, so GEMM allocates nothing but its output. */
export class GemmWorkspace {
  readonly packedA = new Float64Scratch();
  readonly packedB = new Float64Scratch();
  /** The micro-kernel's result, added into C (clipped at ragged edges). */
  readonly tile = new Float64Array(TILE * TILE);
}

/**
 * One operand seen as rows of length `depth`: element (row r, depth p) is
 * `data[offset + r * rowStride + p * depthStride]`. A is its own rows; B is
 * read as its columns, so both operands pack the same way.
 */
interface DepthOperand {
  readonly data: CpuHandle;
  offset: number;
  readonly rowStride: number;
  readonly depthStride: number;
}

/**
 * `a` is `[batchA, m, k]` (`[batchA, k, m]` if `transA`), `b` is
 * `[batchB, k, n]` (`[batchB, n, k]` if `transB`); a batch of 1 broadcasts.
 * Returns `[batch, m, n]`, `batch` being the broadcast of the two.
 */
export function matmul(
  a: CpuHandle,
  aShape: Shape,
  b: CpuHandle,
  bShape: Shape,
  transA: boolean,
  transB: boolean,
  dtype: DType,
  workspace: GemmWorkspace,
): CpuHandle {
  const { batchA, batchB, batch, m, k, n } = matmulDims(aShape, bShape, transA, transB);
  const out = allocate(dtype, batch * m * n);

  const lhs: DepthOperand = { data: a, offset: 0, rowStride: transA ? 1 : k, depthStride: transA ? m : 1 };
  const rhs: DepthOperand = { data: b, offset: 0, rowStride: transB ? k : 1, depthStride: transB ? 1 : n };
  // Stacked untransposed A matrices times one shared B are a single taller
  // product, which packs B once instead of once per batch.
  if (batchB === 1 && !transA) {
    gemm(lhs, rhs, batchA * m, n, k, out, 0, workspace);
    return out;
  }
  for (let t = 0; t < batch; t++) {
    lhs.offset = batchA === 1 ? 0 : t * m * k;
    rhs.offset = batchB === 1 ? 0 : t * k * n;
    gemm(lhs, rhs, m, n, k, out, t * m * n, workspace);
  }
  return out;
}

/** Writes lhs (m x k) times rhs^T (k x n) into `c` (zero on entry) at `cOffset`, row length n. */
function gemm(
  lhs: DepthOperand,
  rhs: DepthOperand,
  m: number,
  n: number,
  k: number,
  c: CpuHandle,
  cOffset: number,
  workspace: GemmWorkspace,
): void {
  if (m < TILE || n < TILE) {
    gemmThin(lhs, rhs, m, n, k, c, cOffset);
    return;
  }
  const maxDepth = Math.min(k, DEPTH_BLOCK);
  const packedA = workspace.packedA.get(roundUpToTile(Math.min(m, ROW_BLOCK)) * maxDepth);
  const packedB = workspace.packedB.get(roundUpToTile(Math.min(n, COL_BLOCK)) * maxDepth);
  const tile = workspace.tile;
  for (let j0 = 0; j0 < n; j0 += COL_BLOCK) {
    const cols = Math.min(COL_BLOCK, n - j0);
    for (let p0 = 0; p0 < k; p0 += DEPTH_BLOCK) {
      const depth = Math.min(DEPTH_BLOCK, k - p0);
      packStrips(rhs, j0, cols, p0, depth, packedB);
      for (let i0 = 0; i0 < m; i0 += ROW_BLOCK) {
        const rows = Math.min(ROW_BLOCK, m - i0);
        packStrips(lhs, i0, rows, p0, depth, packedA);
        for (let j = 0; j < cols; j += TILE) {
          const tileCols = Math.min(TILE, cols - j);
          for (let i = 0; i < rows; i += TILE) {
            microKernel(packedA, i * depth, packedB, j * depth, depth, tile);
            addTile(tile, c, cOffset + (i0 + i) * n + j0 + j, n, Math.min(TILE, rows - i), tileCols);
          }
        }
      }
    }
  }
}

/**
 * Products with fewer than TILE rows or columns (matrix-vector and the like):
 * a TILE x TILE tile would be mostly zero padding and packing would cost as
 * much as the arithmetic, so take plain dot products straight from the operands.
 */
function gemmThin(
  lhs: DepthOperand,
  rhs: DepthOperand,
  m: number,
  n: number,
  k: number,
  c: CpuHandle,
  cOffset: number,
): void {
  const a = lhs.data;
  const b = rhs.data;
  const aStep = lhs.depthStride;
  const bStep = rhs.depthStride;
  for (let i = 0; i < m; i++) {
    const aRow = lhs.offset + i * lhs.rowStride;
    for (let j = 0; j < n; j++) {
      const bRow = rhs.offset + j * rhs.rowStride;
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[aRow + p * aStep] * b[bRow + p * bStep];
      c[cOffset + i * n + j] = sum;
    }
  }
}

function roundUpToTile(count: number): number {
  return Math.ceil(count / TILE) * TILE;
}

/**
 * Packs rows `[first, first + count)` x depths `[p0, p0 + depth)` of `src`
 * into `dst` as strips of TILE rows: strip s holds, for each depth p, the
 * TILE values of rows first + s*TILE ... consecutively. Rows past `count` are 0.
 */
function packStrips(
  src: DepthOperand,
  first: number,
  count: number,
  p0: number,
  depth: number,
  dst: Float64Array,
): void {
  const { data, rowStride, depthStride } = src;
  let d = 0;
  for (let r0 = 0; r0 < count; r0 += TILE) {
    const live = Math.min(TILE, count - r0);
    let base = src.offset + (first + r0) * rowStride + p0 * depthStride;
    for (let p = 0; p < depth; p++) {
      let r = 0;
      for (; r < live; r++) dst[d + r] = data[base + r * rowStride];
      for (; r < TILE; r++) dst[d + r] = 0;
      d += TILE;
      base += depthStride;
    }
  }
}

/**
 * The TILE x TILE (4 x 4) product of one packed A strip and one packed B
 * strip over `depth`, accumulated in locals and written row-major to `tile`.
 */
function microKernel(
  a: Float64Array,
  ai: number,
  b: Float64Array,
  bi: number,
  depth: number,
  tile: Float64Array,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0; p < depth; p++) {
    const a0 = a[ai], a1 = a[ai + 1], a2 = a[ai + 2], a3 = a[ai + 3];
    const b0 = b[bi], b1 = b[bi + 1], b2 = b[bi + 2], b3 = b[bi + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    ai += TILE;
    bi += TILE;
  }
  tile[0] = c00; tile[1] = c01; tile[2] = c02; tile[3] = c03;
  tile[4] = c10; tile[5] = c11; tile[6] = c12; tile[7] = c13;
  tile[8] = c20; tile[9] = c21; tile[10] = c22; tile[11] = c23;
  tile[12] = c30; tile[13] = c31; tile[14] = c32; tile[15] = c33;
}

/** Adds the top-left `rows` x `cols` of `tile` into `c` at `offset` (row length `ldc`). */
function addTile(tile: Float64Array, c: CpuHandle, offset: number, ldc: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const row = offset + r * ldc;
    for (let q = 0; q < cols; q++) c[row + q] += tile[r * TILE + q];
  }
}
