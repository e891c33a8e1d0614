/**
 * Layout ops: reshape, permute, slice, concat, pad, cast, clone, and the ones
 * built on them (transpose, flatten, unsqueeze, stack). Every one is linear, so each
 * derivative rule applies the op's own transpose (reshape back, the inverse
 * permutation, pad for slice and slice for pad and concat, cast back, the
 * identity for clone).
 *
 * Sample mixing (axis 0 of input and output read as the batch axis): a
 * reshape, slice or pad mixes samples when the output's axis 0 differs in
 * size from the input's (a reshape that keeps it keeps each sample's
 * elements together; a slice or pad along axis 0 drops, adds or relabels
 * samples, so output sample n is no longer input sample n); a permute or
 * transpose when it moves axis 0; a concat when it joins along axis 0. Casts
 * never mix.
 */
import type { DType, Shape } from '../backend/backend.js';
import type { OpDerivatives } from '../tensor/autograd.js';
import { formatShape, normalizeAxis, shapesEqual, sizeOf } from '../tensor/shape.js';
import { installCloneOp, type Tensor } from '../tensor/tensor.js';
import { sameBackend, sameDType } from './check.js';
import { zeros } from './create.js';
import { axis0Changes, leadingShape, record, wantsGrad } from './record.js';
import { runKernel } from './run-kernel.js';

/** The same elements in a new shape; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return reshapeAs('reshape', x, shape);
}

/** {@link reshape}, recorded under the name the caller used. */
function reshapeAs(name: string, x: Tensor, shape: Shape): Tensor {
  sameBackend('reshape', [x]);
  const newShape = inferShape(x, shape);
  return record(name, [x], reshapeKernel(x, newShape), () => reshapeDerivatives(x.shape, newShape), axis0Changes(x.shape, newShape));
}

/** The reshape kernel, unrecorded: also the copy behind ops that keep the elements in order. */
function reshapeKernel(x: Tensor, shape: Shape): Tensor {
  return runKernel(x.backend, [x], shape, x.dtype, () => x.backend.reshape(x.handle, x.shape, shape, x.dtype));
}

function reshapeDerivatives(inShape: Shape, outShape: Shape): OpDerivatives {
  return {
    vjp: (g) => [reshape(g, [...leadingShape(g, outShape.length), ...inShape])],
    jvp: ([t]) => reshape(t!, [...leadingShape(t!, inShape.length), ...outShape]),
  };
}

function inferShape(x: Tensor, shape: Shape): number[] {
  const unknown = shape.indexOf(-1);
  const known = sizeOf(shape.filter((d) => d !== -1));
  const out = [...shape];
  if (unknown >= 0 && shape.lastIndexOf(-1) === unknown && known > 0 && x.size % known === 0) {
    out[unknown] = x.size / known;
  }
  if (sizeOf(out) !== x.size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`reshape: cannot view ${formatShape(x.shape)} (${x.size} elements) as ${formatShape(shape)}`);
  }
  return out;
}

/** Reorders dimensions: output dimension i is input dimension `perm[i]`. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  return permuteAs('permute', x, perm);
}

/** {@link permute}, recorded under the name the caller used. */
function permuteAs(name: string, x: Tensor, perm: readonly number[]): Tensor {
  const backend = sameBackend('permute', [x]);
  const normalized = perm.map((p) => normalizeAxis(p, x.rank, 'permute'));
  if (normalized.length !== x.rank || new Set(normalized).size !== x.rank) {
    throw new RangeError(`permute: [${perm.join(', ')}] is not a permutation of ${x.rank} dimensions`);
  }
  const outShape = normalized.map((p) => x.shape[p]!);
  const out = normalized.every((p, i) => p === i)
    ? reshapeKernel(x, x.shape)
    : runKernel(backend, [x], outShape, x.dtype, () => backend.permute(x.handle, x.shape, normalized, x.dtype));
  return record(name, [x], out, () => permuteDerivatives(normalized), x.rank > 0 && normalized[0] !== 0);
}

function permuteDerivatives(perm: readonly number[]): OpDerivatives {
  const inverse = perm.map((_, i) => perm.indexOf(i));
  // Leading dimensions stay in front; the op's axes move by their count.
  const withLead = (t: Tensor, p: readonly number[]) => {
    const lead = t.rank - p.length;
    return [...Array.from({ length: lead }, (_, i) => i), ...p.map((a) => a + lead)];
  };
  return {
    vjp: (g) => [permute(g, withLead(g, inverse))],
    jvp: ([t]) => permute(t!, withLead(t!, perm)),
  };
}

/** Swaps two dimensions (the last two by default). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeAxis(dim0, x.rank, 'transpose');
  const b = normalizeAxis(dim1, x.rank, 'transpose');
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permuteAs('transpose', x, perm);
}

/** Merges dimensions `startDim..endDim` (inclusive) into one, as `torch.flatten`. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.rank === 0) return reshapeAs('flatten', x, [1]);
  const start = normalizeAxis(startDim, x.rank, 'flatten');
  const end = normalizeAxis(endDim, x.rank, 'flatten');
  if (start > end) {
    throw new RangeError(`flatten: start dimension ${startDim} comes after end dimension ${endDim} for shape ${formatShape(x.shape)}`);
  }
  const merged = sizeOf(x.shape.slice(start, end + 1));
  return reshapeAs('flatten', x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
}

/** Inserts a dimension of size 1 at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const at = normalizeAxis(dim, x.rank + 1, 'unsqueeze');
  return reshapeAs('unsqueeze', x, [...x.shape.slice(0, at), 1, ...x.shape.slice(at)]);
}

/** The block starting at `begin` with extent `size` (-1: to the end) in every dimension. */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const backend = sameBackend('slice', [x]);
  const outShape = x.shape.map((d, i) => {
    const b = begin[i] ?? 0;
    const s = size[i] === undefined || size[i] === -1 ? d - b : size[i]!;
    if (b < 0 || s < 0 || b + s > d) {
      throw new RangeError(`slice: block at [${begin.join(', ')}] of size [${size.join(', ')}] exceeds ${formatShape(x.shape)}`);
    }
    return s;
  });
  const fullBegin = x.shape.map((_, i) => begin[i] ?? 0);
  const out = runKernel(backend, [x], outShape, x.dtype, () => backend.slice(x.handle, x.shape, fullBegin, outShape, x.dtype));
  return record('slice', [x], out, () => sliceDerivatives(x.shape, fullBegin, outShape), axis0Changes(x.shape, outShape));
}

/** `n` zeros, the begin or padding of the leading dimensions. */
const zerosFor = (n: number): number[] => new Array<number>(n).fill(0);

function sliceDerivatives(inShape: Shape, begin: readonly number[], size: Shape): OpDerivatives {
  const after = inShape.map((d, i) => d - begin[i]! - size[i]!);
  return {
    vjp: (g) => {
      const lead = zerosFor(g.rank - size.length);
      return [pad(g, [...lead, ...begin], [...lead, ...after])];
    },
    jvp: ([t]) => slice(t!, [...zerosFor(t!.rank - inShape.length), ...begin], [...leadingShape(t!, inShape.length), ...size]),
  };
}

/** Joins tensors along `axis` (default 0), as `torch.cat`: their shapes agree outside it. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const backend = sameBackend('concat', xs);
  const dtype = sameDType('concat', xs);
  const first = xs[0]!;
  const ax = normalizeAxis(axis, first.rank, 'concat');
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new RangeError(`concat: shapes ${formatShape(first.shape)} and ${formatShape(x.shape)} differ outside axis ${ax}`);
    }
  }
  const outShape = first.shape.map((d, i) => (i === ax ? xs.reduce((s, x) => s + x.shape[i]!, 0) : d));
  // Empty operands add nothing; a single operand left is the result (with all others empty along the axis).
  const parts = xs.filter((x) => x.size > 0);
  const out =
    parts.length === 1
      ? reshapeKernel(parts[0]!, outShape)
      : runKernel(backend, parts, outShape, dtype, () =>
          backend.concat(
            parts.map((x) => x.handle),
            parts.map((x) => x.shape),
            ax,
            dtype,
          ),
        );
  return record('concat', xs, out, () => concatDerivatives(xs, ax), ax === 0);
}

function concatDerivatives(xs: readonly Tensor[], axis: number): OpDerivatives {
  const offsets = xs.map((_, i) => xs.slice(0, i).reduce((s, x) => s + x.shape[axis]!, 0));
  return {
    vjp: (g) => {
      const lead = leadingShape(g, xs[0]!.rank);
      return xs.map((x, i) => {
        if (!wantsGrad(x)) return undefined;
        const begin = x.shape.map((_, d) => (d === axis ? offsets[i]! : 0));
        return slice(g, [...zerosFor(lead.length), ...begin], [...lead, ...x.shape]);
      });
    },
    jvp: (tangents) => {
      const given = tangents.find((t) => t !== undefined)!;
      const lead = leadingShape(given, xs[0]!.rank);
      const parts = xs.map((x, i) => tangents[i] ?? zeros([...lead, ...x.shape], { backend: given.backend, dtype: given.dtype }));
      return concat(parts, axis + lead.length);
    },
  };
}

/**
 * Joins tensors of one shape along a new dimension `dim` (default 0), as
 * `torch.stack`: `n` tensors of shape `[a, b]` stacked at 1 give `[a, n, b]`.
 * Recorded as an unsqueeze of each and a concat.
 */
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  const first = xs[0];
  if (first === undefined) throw new RangeError('stack: needs at least one tensor');
  xs.forEach((x, i) => {
    if (!shapesEqual(x.shape, first.shape)) {
      throw new RangeError(`stack: tensor ${i} has shape ${formatShape(x.shape)}, but tensor 0 has ${formatShape(first.shape)}; stacked tensors share one shape`);
    }
  });
  const at = normalizeAxis(dim, first.rank + 1, 'stack');
  return concat(
    xs.map((x) => unsqueeze(x, at)),
    at,
  );
}

/**
 * A copy of `x` (PyTorch's `clone()`): a tensor of its own, which stays
 * valid when `x` is disposed, and through which gradients flow to `x`
 * unchanged (the identity is recorded). Use it to hold on to a value that
 * its owner will dispose, such as an extension's quantity on a parameter.
 */
export function clone(x: Tensor): Tensor {
  sameBackend('clone', [x]);
  return record('clone', [x], reshapeKernel(x, x.shape), () => ({
    vjp: (g) => [g],
    jvp: ([t]) => t!,
  }));
}

installCloneOp(clone);

/** Constant padding: `before[i]` and `after[i]` elements around dimension i. */
export function pad(x: Tensor, before: readonly number[], after: readonly number[], value = 0): Tensor {
  const backend = sameBackend('pad', [x]);
  if (before.length !== x.rank || after.length !== x.rank || [...before, ...after].some((p) => !Number.isInteger(p) || p < 0)) {
    throw new RangeError(`pad: needs ${x.rank} non-negative integers before and after, got [${before.join(', ')}] and [${after.join(', ')}]`);
  }
  const outShape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const out = runKernel(backend, [x], outShape, x.dtype, () => backend.pad(x.handle, x.shape, before, after, value, x.dtype), value);
  return record('pad', [x], out, () => padDerivatives(x.shape, before, after), axis0Changes(x.shape, outShape));
}

function padDerivatives(inShape: Shape, before: readonly number[], after: readonly number[]): OpDerivatives {
  return {
    vjp: (g) => [slice(g, [...zerosFor(g.rank - inShape.length), ...before], [...leadingShape(g, inShape.length), ...inShape])],
    // The padding value is a constant: its tangent is 0.
    jvp: ([t]) => {
      const lead = zerosFor(t!.rank - inShape.length);
      return pad(t!, [...lead, ...before], [...lead, ...after]);
    },
  };
}

/** Converts to another dtype; the result's type says which (`Tensor<'float64'>`). */
export function cast<D extends DType>(x: Tensor, dtype: D): Tensor<D> {
  const backend = sameBackend('cast', [x]);
  if (!backend.dtypes.includes(dtype)) {
    throw new TypeError(`cast: backend '${backend.name}' does not support ${dtype}`);
  }
  const out = dtype === x.dtype ? reshapeKernel(x, x.shape) : runKernel(backend, [x], x.shape, dtype, () => backend.cast(x.handle, x.shape, x.dtype, dtype));
  // Between float dtypes the derivative is the identity, cast back; to or from int32 nothing is recorded.
  const recorded = record('cast', [x], out, () => ({
    vjp: (g) => [cast(g, x.dtype)],
    jvp: ([t]) => cast(t!, dtype),
  }));
  return recorded as Tensor<D>;
}
