/**
 * Plain-JavaScript layers for the independent reference (test/reference.ts):
 * convolutions and transposed convolutions of any spatial rank (stride,
 * padding, dilation, output padding, groups), max/average/adaptive-average
 * pooling, zero padding and BatchNorm in evaluation mode, each written out
 * with explicit loops over one sample, written from PyTorch's definitions.
 * No core op, no module derivative.
 *
 * A sample is a flat array over `[C, ...spatial]` (row-major). Jacobians
 * are dense `[D_out x D_in]` matrices: for layers linear in their input, the
 * columns are the layer (without bias) applied to unit vectors; max pooling
 * selects the first maximum of each window, as PyTorch.
 */
import { zerosMatrix, type Matrix } from './reference.js';

/** Every multi-index of `shape`, row-major. */
export function indices(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const size of shape) {
    const next: number[][] = [];
    for (const prefix of out) for (let i = 0; i < size; i++) next.push([...prefix, i]);
    out = next;
  }
  return out;
}

/** Row-major offset of `index` in `shape`. */
export function offset(index: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d]! + index[d]!;
  return flat;
}

export const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** The Jacobian of a map that is linear in x: column i is `f(e_i)`. */
export function linearJacobian(f: (x: readonly number[]) => number[], inputSize: number): Matrix {
  const columns = Array.from({ length: inputSize }, (_, i) => {
    const e = new Array<number>(inputSize).fill(0);
    e[i] = 1;
    return f(e);
  });
  const out = zerosMatrix(columns[0]!.length, inputSize);
  columns.forEach((column, i) => column.forEach((v, o) => (out[o]![i] = v)));
  return out;
}

// ---- convolutions ----

/** A (transposed) convolution with PyTorch's arguments and layouts. */
export interface ConvSpec {
  readonly transposed: boolean;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly dilation: readonly number[];
  /** Transposed only (zeros otherwise). */
  readonly outputPadding: readonly number[];
  readonly groups: number;
  /** Flat, `[out, in/G, ...k]` (convolution) or `[in, out/G, ...k]` (transposed). */
  readonly weight: readonly number[];
  readonly bias?: readonly number[];
  /** Spatial size of the input. */
  readonly inSpatial: readonly number[];
}

export function convOutSpatial(spec: ConvSpec): number[] {
  return spec.inSpatial.map((size, d) => {
    const [k, s, p, dil] = [spec.kernel[d]!, spec.stride[d]!, spec.padding[d]!, spec.dilation[d]!];
    return spec.transposed
      ? (size - 1) * s - 2 * p + dil * (k - 1) + spec.outputPadding[d]! + 1
      : Math.floor((size + 2 * p - dil * (k - 1) - 1) / s) + 1;
  });
}

/**
 * Every tap of the convolution: input position `inPos` (over the input
 * spatial grid), kernel offset `k`, output position `outPos`, related by
 * `conv: in = out·s - p + k·d`, `transposed: out = in·s - p + k·d`; only taps
 * inside both grids.
 */
function taps(spec: ConvSpec): { inPos: number[]; k: number[]; outPos: number[] }[] {
  const outSpatial = convOutSpatial(spec);
  const result: { inPos: number[]; k: number[]; outPos: number[] }[] = [];
  const [from, to] = spec.transposed ? [spec.inSpatial, outSpatial] : [outSpatial, spec.inSpatial];
  for (const position of indices(from)) {
    for (const k of indices(spec.kernel)) {
      const target = position.map((v, d) => v * spec.stride[d]! - spec.padding[d]! + k[d]! * spec.dilation[d]!);
      if (target.some((v, d) => v < 0 || v >= to[d]!)) continue;
      result.push(spec.transposed ? { inPos: position, k, outPos: target } : { inPos: target, k, outPos: position });
    }
  }
  return result;
}

/** One sample through the (transposed) convolution; `withBias` false gives its linear part. */
export function convForward(spec: ConvSpec, x: readonly number[], withBias = true): number[] {
  const outSpatial = convOutSpatial(spec);
  const [inG, outG] = [spec.inChannels / spec.groups, spec.outChannels / spec.groups];
  const y = new Array<number>(spec.outChannels * product(outSpatial)).fill(0);
  const kSize = product(spec.kernel);
  for (const { inPos, k, outPos } of taps(spec)) {
    const kIndex = offset(k, spec.kernel);
    for (let g = 0; g < spec.groups; g++) {
      for (let ci = 0; ci < inG; ci++) {
        const c = g * inG + ci;
        const xv = x[offset([c, ...inPos], [spec.inChannels, ...spec.inSpatial])]!;
        if (xv === 0) continue;
        for (let oi = 0; oi < outG; oi++) {
          const o = g * outG + oi;
          const w = spec.transposed
            ? spec.weight[(c * outG + oi) * kSize + kIndex]!
            : spec.weight[(o * inG + ci) * kSize + kIndex]!;
          y[offset([o, ...outPos], [spec.outChannels, ...outSpatial])]! += w * xv;
        }
      }
    }
  }
  if (withBias && spec.bias !== undefined) {
    const positions = product(outSpatial);
    for (let o = 0; o < spec.outChannels; o++) for (let p = 0; p < positions; p++) y[o * positions + p]! += spec.bias[o]!;
  }
  return y;
}

export function convJacobian(spec: ConvSpec): Matrix {
  return linearJacobian((e) => convForward(spec, e, false), spec.inChannels * product(spec.inSpatial));
}

/**
 * The unfolded input `[C_in·K, L]` whose product with the weight (as
 * `[out, in·K]` per group, for a transposed convolution its transpose) is the
 * output: L = output positions; entry `[(c, k), l]` is the input element that
 * tap k connects to output position l (0 if none).
 */
export function convUnfold(spec: ConvSpec, x: readonly number[]): Matrix {
  const outSpatial = convOutSpatial(spec);
  const kSize = product(spec.kernel);
  const u = zerosMatrix(spec.inChannels * kSize, product(outSpatial));
  for (const { inPos, k, outPos } of taps(spec)) {
    for (let c = 0; c < spec.inChannels; c++) {
      u[c * kSize + offset(k, spec.kernel)]![offset(outPos, outSpatial)] = x[offset([c, ...inPos], [spec.inChannels, ...spec.inSpatial])]!;
    }
  }
  return u;
}

// ---- pooling and padding ----

export interface WindowSpec {
  readonly kernel: readonly number[];
  readonly stride: readonly number[];
  readonly padding: readonly number[];
  readonly dilation: readonly number[];
}

function windowOut(spatial: readonly number[], w: WindowSpec): number[] {
  return spatial.map((size, d) => Math.floor((size + 2 * w.padding[d]! - w.dilation[d]! * (w.kernel[d]! - 1) - 1) / w.stride[d]!) + 1);
}

/** For each output element, the input offsets of its window (undefined: padding), window order row-major. */
function windows(channels: number, spatial: readonly number[], w: WindowSpec): { out: number; inputs: (number | undefined)[] }[] {
  const outSpatial = windowOut(spatial, w);
  const result: { out: number; inputs: (number | undefined)[] }[] = [];
  for (let c = 0; c < channels; c++) {
    for (const position of indices(outSpatial)) {
      const inputs = indices(w.kernel).map((k) => {
        const at = position.map((v, d) => v * w.stride[d]! - w.padding[d]! + k[d]! * w.dilation[d]!);
        return at.some((v, d) => v < 0 || v >= spatial[d]!) ? undefined : offset([c, ...at], [channels, ...spatial]);
      });
      result.push({ out: offset([c, ...position], [channels, ...outSpatial]), inputs });
    }
  }
  return result;
}

/** Max pooling (padding is -∞): forward, and the Jacobian selecting each window's first maximum. */
export function maxPool(channels: number, spatial: readonly number[], w: WindowSpec) {
  const wins = windows(channels, spatial, w);
  const argmax = (x: readonly number[], inputs: (number | undefined)[]) => {
    let best: number | undefined;
    for (const i of inputs) if (i !== undefined && (best === undefined || x[i]! > x[best]!)) best = i;
    return best!;
  };
  return {
    outShape: [channels, ...windowOut(spatial, w)],
    forward: (x: readonly number[]) => wins.map(({ inputs }) => x[argmax(x, inputs)]!),
    jacobian: (x: readonly number[]) => {
      const jac = zerosMatrix(wins.length, x.length);
      for (const { out, inputs } of wins) jac[out]![argmax(x, inputs)] = 1;
      return jac;
    },
  };
}

/** Average pooling with zero padding, divided by the kernel size (count_include_pad). */
export function avgPool(channels: number, spatial: readonly number[], w: WindowSpec) {
  const wins = windows(channels, spatial, w);
  const k = product(w.kernel);
  const forward = (x: readonly number[]) => wins.map(({ inputs }) => inputs.reduce<number>((s, i) => s + (i === undefined ? 0 : x[i]!), 0) / k);
  return { outShape: [channels, ...windowOut(spatial, w)], forward, jacobian: () => linearJacobian(forward, channels * product(spatial)) };
}

/** Adaptive average pooling: output i averages input `[floor(i·In/Out), ceil((i+1)·In/Out))` per dimension. */
export function adaptiveAvgPool(channels: number, spatial: readonly number[], outSize: readonly number[]) {
  const outShape = [channels, ...outSize];
  const forward = (x: readonly number[]) =>
    indices(outShape).map(([c, ...o]) => {
      const ranges = o.map((i, d) => {
        const [inS, outS] = [spatial[d]!, outSize[d]!];
        return [Math.floor((i * inS) / outS), Math.ceil(((i + 1) * inS) / outS)] as const;
      });
      const cells = indices(ranges.map(([a, b]) => b - a)).map((r) => r.map((v, d) => v + ranges[d]![0]));
      return cells.reduce((s, cell) => s + x[offset([c!, ...cell], [channels, ...spatial])]!, 0) / cells.length;
    });
  return { outShape, forward, jacobian: () => linearJacobian(forward, channels * product(spatial)) };
}

/** ZeroPad2d with `[left, right, top, bottom]` (non-negative). */
export function zeroPad2d(channels: number, spatial: readonly number[], padding: readonly [number, number, number, number]) {
  const [left, right, top, bottom] = padding;
  const [h, w] = spatial as [number, number];
  const outShape = [channels, h + top + bottom, w + left + right];
  const forward = (x: readonly number[]) =>
    indices(outShape).map(([c, i, j]) => {
      const [si, sj] = [i! - top, j! - left];
      return si < 0 || si >= h || sj < 0 || sj >= w ? 0 : x[offset([c!, si, sj], [channels, h, w])]!;
    });
  return { outShape, forward, jacobian: () => linearJacobian(forward, channels * h * w) };
}

// ---- BatchNorm in evaluation mode ----

export interface BatchNormSpec {
  readonly channels: number;
  /** Positions per channel (product of the spatial size; 1 for `[N, C]`). */
  readonly positions: number;
  readonly weight: readonly number[];
  readonly bias: readonly number[];
  readonly runningMean: readonly number[];
  readonly runningVar: readonly number[];
  readonly eps: number;
}

/** x̂ = (x - mean) / sqrt(var + eps) of one sample. */
export function batchNormNormalized(spec: BatchNormSpec, x: readonly number[]): number[] {
  return x.map((v, i) => {
    const c = Math.floor(i / spec.positions);
    return (v - spec.runningMean[c]!) / Math.sqrt(spec.runningVar[c]! + spec.eps);
  });
}

export function batchNormForward(spec: BatchNormSpec, x: readonly number[]): number[] {
  return batchNormNormalized(spec, x).map((v, i) => {
    const c = Math.floor(i / spec.positions);
    return spec.weight[c]! * v + spec.bias[c]!;
  });
}

export function batchNormJacobian(spec: BatchNormSpec, size: number): Matrix {
  const jac = zerosMatrix(size, size);
  for (let i = 0; i < size; i++) {
    const c = Math.floor(i / spec.positions);
    jac[i]![i] = spec.weight[c]! / Math.sqrt(spec.runningVar[c]! + spec.eps);
  }
  return jac;
}

/** The Jacobian of the output w.r.t. the scale γ, `[C·P x C]`: x̂ in the column of its channel. */
export function batchNormWeightJacobian(spec: BatchNormSpec, x: readonly number[]): Matrix {
  const normalized = batchNormNormalized(spec, x);
  const jac = zerosMatrix(x.length, spec.channels);
  normalized.forEach((v, i) => (jac[i]![Math.floor(i / spec.positions)] = v));
  return jac;
}

/** The Jacobian of a per-channel bias, `[C·P x C]`: ones where the channel is. */
export function channelSumJacobian(channels: number, positions: number): Matrix {
  const jac = zerosMatrix(channels * positions, channels);
  for (let i = 0; i < channels * positions; i++) jac[i]![Math.floor(i / positions)] = 1;
  return jac;
}
