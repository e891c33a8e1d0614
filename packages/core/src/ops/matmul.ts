import { broadcastShapes, formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { sameBackend, sameDType } from './check.js';
import { add } from './elementwise.js';
import { zeros } from './create.js';
import { reshape } from './layout.js';
import { runKernel } from './run-kernel.js';

/**
 * Matrix product with `torch.matmul` semantics for operands of rank >= 2:
 * `[..., m, k] @ [..., k, n] -> [..., m, n]`, batch dimensions broadcast.
 * `transA` / `transB` use the operand's last two dimensions transposed,
 * without copying.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const backend = sameBackend('matmul', [a, b]);
  const dtype = sameDType('matmul', [a, b]);
  if (a.rank < 2 || b.rank < 2) {
    throw new RangeError(`matmul: operands need rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const [m, kA] = matrixDims(a, transA);
  const [kB, n] = matrixDims(b, transB);
  if (kA !== kB) {
    throw new RangeError(
      `matmul: inner dimensions differ: ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${formatShape(b.shape)}${transB ? 'ᵀ' : ''} (${kA} vs ${kB})`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = broadcastShapes(batchA, batchB, 'matmul');
  const a3 = asBatch3(a, batch);
  const b3 = asBatch3(b, batch);
  // Over k = 0 every entry is an empty sum: zeros, as PyTorch.
  return runKernel(backend, [a3, b3], [...batch, m, n], dtype, () =>
    backend.matmul(a3.handle, a3.shape, b3.handle, b3.shape, transA, transB, dtype),
  );
}

function matrixDims(x: Tensor, transposed: boolean): [number, number] {
  const rows = x.shape[x.rank - 2]!;
  const cols = x.shape[x.rank - 1]!;
  return transposed ? [cols, rows] : [rows, cols];
}

/**
 * Views `x` as `[batch, rows, cols]`. A batch of one is kept (the backend
 * broadcasts it); any other broadcast is materialised.
 */
function asBatch3(x: Tensor, batch: readonly number[]): Tensor {
  const own = x.shape.slice(0, -2);
  const rows = x.shape[x.rank - 2]!;
  const cols = x.shape[x.rank - 1]!;
  if (sizeOf(own) === 1) return reshape(x, [1, rows, cols]);
  const needsBroadcast = own.length !== batch.length || own.some((d, i) => d !== batch[i]);
  const full = needsBroadcast ? add(x, zeros([...batch, rows, cols], { backend: x.backend, dtype: x.dtype })) : x;
  return reshape(full, [sizeOf(batch), rows, cols]);
}
