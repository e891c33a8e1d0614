import type { Shape } from '../backend/backend.js';
import { noGrad, type OpDerivatives } from '../tensor/autograd.js';
import { broadcastShapes, formatShape, padShapeLeft, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { sameBackend, sameDType } from './check.js';
import { add } from './elementwise.js';
import { reshape } from './layout.js';
import { leadingShape, record, wantsGrad } from './record.js';
import { runKernel } from './run-kernel.js';
import { broadcastTo, sumToShape } from './sum.js';

/**
 * Matrix product with `torch.matmul` semantics for operands of rank >= 2:
 * `[..., m, k] @ [..., k, n] -> [..., m, n]`, batch dimensions broadcast.
 * `transA` / `transB` use the operand's last two dimensions transposed,
 * without copying.
 *
 * Derivatives are matrix products again (with the cotangent's extra leading
 * dimensions as more batch dimensions), summed over the batch dimensions an
 * operand was broadcast along.
 *
 * Sample mixing (axis 0 of operands and output read as the batch axis, as
 * `einsum` reads `mk,kn->mn`): with batch dimensions, axis 0 is a batch
 * dimension that every operand keeps or, broadcast, shares, so no mixing.
 * A product of two matrices takes the output's rows from `a`, and reads `b`
 * as a matrix shared by every sample (as a weight); it mixes samples when
 * `transA` contracts `a`'s axis 0. Shapes cannot tell a batched `b` from a
 * weight, so a product across samples such as `matmul(x, x, false, true)` is
 * not flagged.
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
  // Computed as one op: the reshapes and broadcasts to 3-d are not recorded.
  const out = noGrad(() => {
    const a3 = asBatch3(a, batch);
    const b3 = asBatch3(b, batch);
    // Over k = 0 every entry is an empty sum: zeros, as PyTorch.
    return runKernel(backend, [a3, b3], [...batch, m, n], dtype, () =>
      backend.matmul(a3.handle, a3.shape, b3.handle, b3.shape, transA, transB, dtype),
    );
  });
  return record('matmul', [a, b], out, () => matmulDerivatives(a, b, transA, transB, batch), batch.length === 0 && transA);
}

function matmulDerivatives(a: Tensor, b: Tensor, transA: boolean, transB: boolean, batch: Shape): OpDerivatives {
  // An operand as its broadcast batch dimensions plus its own two.
  const broadcastShape = (x: Tensor) => [...batch, ...x.shape.slice(-2)];
  // A tangent [...lead, ...x.shape] with x's missing batch dimensions as ones after lead, so lead does not meet the batch.
  const aligned = (t: Tensor, x: Tensor) =>
    x.rank < batch.length + 2 ? reshape(t, [...leadingShape(t, x.rank), ...padShapeLeft(x.shape, batch.length + 2)]) : t;
  return {
    vjp: (g) => [
      // ∂a = G · op(b)ᵀ (transposed back when transA), ∂b = op(a)ᵀ · G (likewise).
      wantsGrad(a) ? sumToShape(transA ? matmul(b, g, transB, true) : matmul(g, b, false, !transB), broadcastShape(a), a.shape) : undefined,
      wantsGrad(b) ? sumToShape(transB ? matmul(g, a, true, transA) : matmul(a, g, !transA, false), broadcastShape(b), b.shape) : undefined,
    ],
    jvp: ([ta, tb]) => {
      const fromA = ta === undefined ? undefined : matmul(aligned(ta, a), b, transA, transB);
      const fromB = tb === undefined ? undefined : matmul(a, aligned(tb, b), transA, transB);
      return fromA === undefined ? fromB! : fromB === undefined ? fromA : add(fromA, fromB);
    },
  };
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
  const full = needsBroadcast ? broadcastTo(x, [...batch, rows, cols]) : x;
  return reshape(full, [sizeOf(batch), rows, cols]);
}
