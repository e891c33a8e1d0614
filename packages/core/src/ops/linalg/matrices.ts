import type { Shape } from '../../backend/backend.js';
import { isGradEnabled } from '../../tensor/autograd.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { assertFloat, sameBackend, sameDType } from '../check.js';
import { tensor } from '../create.js';

/**
 * A batch of matrices `[...batch, rows, columns]` copied to float64, the form
 * every `linalg` function computes on: the decompositions run in TypeScript
 * with float64 accumulation whatever the backend and dtype.
 */
export interface MatrixBatch {
  /** The leading dimensions. */
  readonly batchShape: number[];
  /** The number of matrices (the product of `batchShape`). */
  readonly count: number;
  readonly rows: number;
  readonly columns: number;
  /** Row-major, matrix after matrix. */
  readonly data: Float64Array;
}

/**
 * Throws unless `t` can enter `op` (`"linalg.cholesky"`): alive, float32 or
 * float64, of rank >= 2, and not recorded for gradients (the decompositions
 * have no derivative rules). `viewShape` reads it in another shape of the
 * same size (a batch of vectors as `[..., n, 1]`).
 */
export function readMatrices(op: string, t: Tensor, name = 'the input', viewShape: Shape = t.shape): MatrixBatch {
  t.assertAlive(op);
  assertFloat(op, t);
  assertNotRecorded(op, t, name);
  if (viewShape.length < 2) throw new RangeError(`${op}: ${name} must be a matrix or a batch of matrices [..., m, n], got shape ${formatShape(t.shape)}`);
  const rows = viewShape[viewShape.length - 2]!;
  const columns = viewShape[viewShape.length - 1]!;
  const batchShape = viewShape.slice(0, -2);
  return { batchShape, count: batchShape.reduce((a, b) => a * b, 1), rows, columns, data: Float64Array.from(t.toArray()) };
}

/** {@link readMatrices} for square matrices `[..., n, n]`. */
export function readSquareMatrices(op: string, t: Tensor, name = 'the input'): MatrixBatch {
  const batch = readMatrices(op, t, name);
  if (batch.rows !== batch.columns) {
    throw new RangeError(`${op}: ${name} must be square matrices [..., n, n], got shape ${formatShape(t.shape)}`);
  }
  return batch;
}

/** Throws unless every operand lives on one backend with one dtype. */
export function assertSameKind(op: string, tensors: readonly Tensor[]): void {
  sameBackend(op, tensors);
  sameDType(op, tensors);
}

function assertNotRecorded(op: string, t: Tensor, name: string): void {
  if (isGradEnabled() && t.requiresGrad) {
    throw new Error(
      `${op}: ${name} (shape ${formatShape(t.shape)}) requires gradients, but ${op} is not differentiable; call it inside noGrad(() => ...) or on input.detach()`,
    );
  }
}

/** `" (matrix 3 of the batch)"` for batched inputs, `""` for a single matrix, to locate a failure in messages. */
export function whichMatrix(batch: MatrixBatch, index: number): string {
  return batch.batchShape.length === 0 ? '' : ` (matrix ${index} of the batch ${formatShape(batch.batchShape)}, flat index)`;
}

/** A result on `like`'s backend and dtype holding `data` (float64, rounded to float32 where `like` is). */
export function resultLike(like: Tensor, data: Float64Array, shape: Shape): Tensor {
  return tensor(data, shape, { backend: like.backend, dtype: like.dtype });
}
