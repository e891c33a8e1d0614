/**
 * Time-major views. PyTorch exports a batch-first RNN or LSTM as ONNX's
 * time-major operator between two Transposes: `x [N, T, in]` → Transpose
 * (perm [1, 0, 2]) → X `[T, N, in]` → RNN → Y → Squeeze → `[T, N, H]` →
 * Transpose (perm [1, 0, 2], or fused with the next permutation) →
 * batch-first again. The import keeps every value of data batch-first (so
 * that the modules and the extensions read the batch from dimension 0), so
 * the recurrent module runs batch-first, and the time-major values in
 * between are views: the batch-first value under the ONNX name of its
 * time-major transpose. Only the recurrent operators and the Transposes back
 * consume them, and both ask this file for the batch-first value.
 */
import { Permute } from '@backpack-ts/core';
import type { NodeProto } from '../../proto/onnx-proto.js';
import type { ImportContext } from '../context.js';
import type { DataValue } from '../values.js';

/** Each view, with the batch-first value it shows time-major. */
const views = new WeakMap<DataValue, DataValue>();

/** Swaps axes 0 and 1 (time and batch) in a permutation's entries. */
const swapped = (axis: number) => (axis === 0 ? 1 : axis === 1 ? 0 : axis);

/** Defines `name` as the time-major view of the batch-first `source`. */
export function defineTimeMajorView(ctx: ImportContext, name: string, source: DataValue): void {
  const view: DataValue = { kind: 'data', name: source.name, tensor: source.tensor };
  views.set(view, source);
  ctx.alias(name, view);
}

/** The batch-first value behind `value` when it is a time-major view, else undefined. */
export function batchFirstSource(value: unknown): DataValue | undefined {
  return views.get(value as DataValue);
}

/** Whether `perm`, applied to a time-major view, gives a batch-first value (its first entry is the batch axis 1). */
export function leavesTimeMajor(perm: readonly number[]): boolean {
  return perm[0] === 1;
}

/**
 * A Transpose into or out of a time-major view, or false for any other:
 * - of batch-first data `[N, T, k]` with perm [1, 0, 2], read only as the X
 *   of RNN and LSTM nodes: the view (no module);
 * - of a view, with a perm that puts the batch first (the recurrent node
 *   allows no other readers): the permutation of the batch-first value it
 *   amounts to (nothing for the identity, else a Permute that keeps the
 *   batch first).
 */
export function importTimeMajorTranspose(ctx: ImportContext, node: NodeProto, perm: readonly number[]): boolean {
  const value = ctx.data(node, 0);
  const source = batchFirstSource(value);
  const output = node.output[0]!;
  if (source === undefined) {
    const readers = ctx.consumers.get(output) ?? [];
    const intoRecurrent = readers.length > 0 && readers.every((n) => n !== null && (n.opType === 'RNN' || n.opType === 'LSTM') && n.input.indexOf(output) === 0 && n.input.lastIndexOf(output) === 0);
    if (!intoRecurrent || value.tensor.rank !== 3 || perm.join(',') !== '1,0,2') return false;
    defineTimeMajorView(ctx, output, value);
    return true;
  }
  // The recurrent node checked that its output's readers all put the batch first (leavesTimeMajor).
  // perm on [T, N, ...] is, on the batch-first [N, T, ...], perm with axes 0 and 1 exchanged.
  const onBatchFirst = perm.map(swapped);
  if (onBatchFirst.every((p, i) => p === i)) ctx.alias(output, source);
  else ctx.emit([node], new Permute(onBatchFirst), [source], [], output);
  return true;
}
