/**
 * Shape simplifications before a kernel goes to ONNX Runtime: fewer, larger
 * dimensions mean fewer distinct sessions (they are cached by rank) and
 * faster kernels. Each keeps the row-major element order of every operand.
 */
import { sizeOf, type Shape } from '@backpack-ts/core';

/**
 * Operands of a broadcasting binary op at the output's rank, with dimensions
 * of size 1 dropped and neighbours merged where both operands are either full
 * or broadcast in both. Returns rank >= 1 shapes.
 */
export function coalesceBroadcast(
  aShape: Shape,
  bShape: Shape,
  outShape: Shape,
): { a: number[]; b: number[]; out: number[] } {
  const a: number[] = [];
  const b: number[] = [];
  const out: number[] = [];
  let previous = '';
  for (let d = 0; d < outShape.length; d++) {
    const size = outShape[d]!;
    if (size === 1) continue;
    const aFull = aShape[d] !== 1;
    const bFull = bShape[d] !== 1;
    const kind = `${aFull}${bFull}`;
    const last = out.length - 1;
    if (kind === previous) {
      out[last]! *= size;
      if (aFull) a[last]! *= size;
      if (bFull) b[last]! *= size;
    } else {
      out.push(size);
      a.push(aFull ? size : 1);
      b.push(bFull ? size : 1);
      previous = kind;
    }
  }
  if (out.length === 0) return { a: [1], b: [1], out: [1] };
  return { a, b, out };
}

/**
 * A reduction with size-1 dimensions dropped and neighbouring dimensions of
 * the same kind (reduced or kept) merged. `axes` is empty when nothing of
 * size > 1 is reduced (the result is a copy).
 */
export function coalesceReduce(shape: Shape, axes: readonly number[]): { shape: number[]; axes: number[] } {
  const dims: number[] = [];
  const reduced: boolean[] = [];
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const isReduced = axes.includes(d);
    const last = dims.length - 1;
    if (last >= 0 && reduced[last] === isReduced) dims[last]! *= size;
    else {
      dims.push(size);
      reduced.push(isReduced);
    }
  }
  return { shape: dims, axes: reduced.flatMap((r, i) => (r ? [i] : [])) };
}

/**
 * A permutation with size-1 dimensions dropped and input dimensions that stay
 * adjacent (in order) in the output merged. An identity result means the
 * permutation does not move any element.
 */
export function coalescePermute(shape: Shape, perm: readonly number[]): { shape: number[]; perm: number[] } {
  // Drop size-1 dimensions, renumbering the rest.
  const kept = shape.flatMap((size, d) => (size === 1 ? [] : [d]));
  const renumber = new Map(kept.map((d, i) => [d, i]));
  const p = perm.filter((d) => renumber.has(d)).map((d) => renumber.get(d)!);
  const s = kept.map((d) => shape[d]!);
  // Group runs of consecutive input dims that appear consecutively in the output.
  const groups: number[][] = [];
  for (const d of p) {
    const group = groups[groups.length - 1];
    if (group !== undefined && group[group.length - 1]! + 1 === d) group.push(d);
    else groups.push([d]);
  }
  // Groups ordered by their first input dim give the merged input shape.
  const byInput = [...groups].sort((x, y) => x[0]! - y[0]!);
  const mergedShape = byInput.map((g) => g.reduce((size, d) => size * s[d]!, 1));
  const position = new Map(byInput.map((g, i) => [g, i]));
  return { shape: mergedShape, perm: groups.map((g) => position.get(g)!) };
}

export function isIdentity(perm: readonly number[]): boolean {
  return perm.every((d, i) => d === i);
}

/**
 * `shape` seen around `axis`: `[outer, length]`, or `[outer, length, inner]`
 * when dimensions follow the axis (the rank-2 and rank-3 layouts the axis
 * kernels are built for), and the same without the axis.
 */
export function aroundAxis(shape: Shape, axis: number): { dims: number[]; rank: 2 | 3; withoutAxis: number[] } {
  const outer = sizeOf(shape.slice(0, axis));
  const length = shape[axis]!;
  const inner = sizeOf(shape.slice(axis + 1));
  return inner === 1
    ? { dims: [outer, length], rank: 2, withoutAxis: [outer] }
    : { dims: [outer, length, inner], rank: 3, withoutAxis: [outer, inner] };
}
