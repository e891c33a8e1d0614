/**
 * tf.Tensor in and out without copying data. tfjs tensors share storage
 * through reference counts: a reshape makes a second tensor on the same data.
 * Each side gets its own tensor, so each disposes its own: disposing a
 * backpack-ts tensor never invalidates the caller's tf.Tensor, and the other
 * way round.
 */
import * as tf from '@tensorflow/tfjs';
import { Tensor } from '@backpack-ts/core';
import { TfjsBackend, share, unsupportedDType } from './tfjs-backend.js';
import { tfjs } from './instance.js';

/**
 * A backpack-ts tensor on `backend` (default {@link tfjs}) holding the data
 * of `t`, without a copy. `t` stays the caller's: dispose it when done, as
 * usual; the returned tensor lives on until disposed itself (or by core's
 * `tidy`). float32 and int32 tensors only (cast bool ones first).
 */
export function fromTf(t: tf.Tensor, backend: TfjsBackend = tfjs): Tensor {
  if (t.isDisposed) throw new Error(`fromTf: the tf.Tensor of shape [${t.shape.join(', ')}] was disposed`);
  if (t.dtype !== 'float32' && t.dtype !== 'int32') throw unsupportedDType(t.dtype, 'fromTf');
  return new Tensor(backend, backend.adopt(share(t)), [...t.shape], t.dtype);
}

/**
 * `t` as a tf.Tensor. A tensor of this backend gives a new tf.Tensor on the
 * same data (no copy); dispose it when done (or create it inside `tf.tidy`).
 * A tensor of another backend (e.g. backend-cpu) is copied, float64 rounded
 * to float32.
 */
export function toTf(t: Tensor): tf.Tensor {
  t.assertAlive('toTf');
  // A reshape shares the data (and gives the shape core tracks, which the handle need not have).
  if (t.backend instanceof TfjsBackend) return tf.reshape(t.handle as tf.Tensor, [...t.shape]);
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = t.toArray();
  return tf.tensor(dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data), [...t.shape], dtype);
}
