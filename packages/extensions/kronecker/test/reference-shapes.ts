/**
 * BackPACK's parameter-free custom modules for the independent reference,
 * per sample (no batch axis), by index arithmetic written here: Permute,
 * Slicing and Pad. Each gives its output shape, forward pass and Jacobian
 * (of its linear part: `linearJacobian`).
 */
import type { GoldenLayerSpec } from '@backpack-ts/conformance';
import { indices, linearJacobian, offset, product } from './reference-layers.js';
import type { Matrix } from './reference.js';

/** A parameter-free layer of the reference: per-sample output shape, forward pass and Jacobian. */
export interface ShapeLayer {
  readonly outShape: number[];
  readonly forward: (x: readonly number[]) => number[];
  readonly jacobian: (x: readonly number[]) => Matrix;
}

/** Where output entry `out` comes from: an input index, or a constant. */
type Source = (out: readonly number[]) => number[] | number;

function gatherLayer(inShape: readonly number[], outShape: number[], source: Source): ShapeLayer {
  const forward = (x: readonly number[]) =>
    indices(outShape).map((out) => {
      const from = source(out);
      return typeof from === 'number' ? from : x[offset(from, inShape)]!;
    });
  // The Jacobian of the affine map: its linear part (constants drop out).
  const linear = (x: readonly number[]) =>
    indices(outShape).map((out) => {
      const from = source(out);
      return typeof from === 'number' ? 0 : x[offset(from, inShape)]!;
    });
  return { outShape, forward, jacobian: () => linearJacobian(linear, product(inShape)) };
}

/** `Permute{dims, init_transpose}` on a sample of shape `inShape` (dims count the batch axis 0). */
function permuteLayer(spec: GoldenLayerSpec, inShape: readonly number[]): ShapeLayer {
  const dims = spec['dims'] as number[];
  const rank = inShape.length + 1;
  const norm = (d: number) => (d < 0 ? d + rank : d);
  const perm =
    spec['init_transpose'] === true
      ? Array.from({ length: rank }, (_, i) => (i === norm(dims[0]!) ? norm(dims[1]!) : i === norm(dims[1]!) ? norm(dims[0]!) : i))
      : dims.map(norm);
  // Per sample: output axis i (of the sample) is input axis perm[i + 1] - 1.
  const samplePerm = perm.slice(1).map((p) => p - 1);
  const outShape = samplePerm.map((p) => inShape[p]!);
  return gatherLayer(inShape, outShape, (out) => {
    const from = new Array<number>(inShape.length);
    samplePerm.forEach((p, i) => (from[p] = out[i]!));
    return from;
  });
}

/** `Slicing{slice_info}` (the first entry is the batch axis), Python's rules for ranges. */
function slicingLayer(spec: GoldenLayerSpec, inShape: readonly number[]): ShapeLayer {
  const info = (spec['slice_info'] as unknown[]).slice(1);
  type Axis = { index: number } | { picks: number[] };
  const axes: Axis[] = inShape.map((dim, a) => {
    const entry = info[a];
    if (typeof entry === 'number') return { index: entry < 0 ? entry + dim : entry };
    const range = (entry ?? {}) as { start?: number | null; stop?: number | null; step?: number | null };
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const [start, stop, step] = [range.start == null ? 0 : clamp(range.start), range.stop == null ? dim : clamp(range.stop), range.step ?? 1];
    const picks: number[] = [];
    for (let i = start; i < stop; i += step) picks.push(i);
    return { picks };
  });
  const outShape = axes.flatMap((axis) => ('picks' in axis ? [axis.picks.length] : []));
  return gatherLayer(inShape, outShape, (out) => {
    let k = 0;
    return axes.map((axis) => ('picks' in axis ? axis.picks[out[k++]!]! : axis.index));
  });
}

/** `Pad{pad, value}`: pairs from the last axis backwards; negative amounts crop. */
function padLayer(spec: GoldenLayerSpec, inShape: readonly number[]): ShapeLayer {
  const pad = spec['pad'] as number[];
  const value = (spec['value'] as number | undefined) ?? 0;
  const lo = inShape.map((_, a) => pad[2 * (inShape.length - 1 - a)] ?? 0);
  const hi = inShape.map((_, a) => pad[2 * (inShape.length - 1 - a) + 1] ?? 0);
  const outShape = inShape.map((d, a) => d + lo[a]! + hi[a]!);
  return gatherLayer(inShape, outShape, (out) => {
    const from = out.map((o, a) => o - lo[a]!);
    return from.every((f, a) => f >= 0 && f < inShape[a]!) ? from : value;
  });
}

/** The reference layer of a BackPACK custom module, or undefined for any other type. */
export function shapeLayer(spec: GoldenLayerSpec, inShape: readonly number[]): ShapeLayer | undefined {
  switch (spec.type) {
    case 'Permute':
      return permuteLayer(spec, inShape);
    case 'Slicing':
      return slicingLayer(spec, inShape);
    case 'Pad':
      return padLayer(spec, inShape);
    default:
      return undefined;
  }
}
