/**
 * Batched matrix products arranged for the engine that runs them.
 *
 * Measured on tfjs-backend-wasm 4.22 (one thread, SIMD), 1024³ float32:
 * a plain 2-D `matMul` runs at ~22 GFLOP/s (XNNPACK), but the same with
 * `transposeA` or `transposeB` at ~1 GFLOP/s, and any product with a batch
 * larger than one at 1 to 1.7 GFLOP/s (a generic loop). So on wasm (and
 * tfjs's JavaScript cpu engine, where the same shapes help):
 *
 * - transposed operands are transposed explicitly (a copy at memory speed);
 * - a batch shared by only one side is folded into the rows of one 2-D
 *   product (`[B, m, k] @ [1, k, n]` is `[B·m, k] @ [k, n]`, and
 *   `[1, m, k] @ [B, k, n]` is `[m, k] @ [k, B·n]` after a transpose);
 * - a product with k = 1 is a broadcasting multiply (~50x faster than the
 *   batched kernel);
 * - a few large products of a real batch run one 2-D product each.
 *
 * Native TensorFlow (tfjs-node) gets the product as asked: its batched
 * kernel is fast and takes transposes for free.
 */
import * as tf from '@tensorflow/tfjs';
import { matmulDims, type Shape } from '@backpack-ts/core';

/** A real batch runs as separate 2-D products when it has at most this many entries... */
const MAX_UNROLLED_BATCH = 16;
/** ...each of at least this many multiply-adds (below, the per-call cost wins). */
const MIN_UNROLLED_MACS = 128 * 128 * 128;

/** `[b, r, c]` -> `[b, c, r]`; a reshape when r or c is 1 (same row-major data). */
function swapLast(x: tf.Tensor3D): tf.Tensor3D {
  const [b, r, c] = x.shape;
  if (r === 1 || c === 1) return tf.reshape(x, [b, c, r]);
  return tf.transpose(x, [0, 2, 1]);
}

/**
 * `a` (`[bA, m, k]`, or `[bA, k, m]` if `transA`) times `b` (`[bB, k, n]`, or
 * `[bB, n, k]` if `transB`): `[max(bA, bB), m, n]`. Call inside `tf.tidy`.
 */
export function batchedMatmul(
  a: tf.Tensor,
  aShape: Shape,
  b: tf.Tensor,
  bShape: Shape,
  transA: boolean,
  transB: boolean,
  native: boolean,
): tf.Tensor3D {
  const { batchA, batchB, batch, m, k, n } = matmulDims(aShape, bShape, transA, transB);
  const a3 = a as tf.Tensor3D;
  const b3 = b as tf.Tensor3D;

  if (k === 1) {
    // An outer product per batch entry: [bA, m, 1] * [bB, 1, n]. With k = 1 the
    // transposed layouts hold the same data, so both are reshapes.
    return tf.mul(tf.reshape(a3, [batchA, m, 1]), tf.reshape(b3, [batchB, 1, n]));
  }
  if (native) return tf.matMul(a3, b3, transA, transB);

  const left = transA ? swapLast(a3) : a3; // [bA, m, k]
  const right = transB ? swapLast(b3) : b3; // [bB, k, n]
  if (batchA === 1 && batchB === 1) return tf.matMul(left, right);
  if (batchB === 1) {
    const rows = tf.matMul(tf.reshape(left, [batchA * m, k]), tf.reshape(right, [k, n]));
    return tf.reshape(rows, [batchA, m, n]);
  }
  if (batchA === 1) {
    // [k, B, n] -> [k, B·n]: every batch entry's columns side by side.
    const columns = n === 1 ? tf.reshape(right, [batchB, k]).transpose() : tf.reshape(tf.transpose(right, [1, 0, 2]), [k, batchB * n]);
    const product = tf.matMul(tf.reshape(left, [m, k]), columns); // [m, B·n]
    if (m === 1) return tf.reshape(product, [batchB, 1, n]);
    if (n === 1) return tf.reshape(product.transpose(), [batchB, m, 1]);
    return tf.transpose(tf.reshape(product, [m, batchB, n]), [1, 0, 2]);
  }
  if (batch <= MAX_UNROLLED_BATCH && m * n * k >= MIN_UNROLLED_MACS) {
    const lefts = tf.unstack(left);
    const rights = tf.unstack(right);
    return tf.stack(lefts.map((l, i) => tf.matMul(l as tf.Tensor2D, rights[i] as tf.Tensor2D))) as tf.Tensor3D;
  }
  return tf.matMul(left, right);
}
