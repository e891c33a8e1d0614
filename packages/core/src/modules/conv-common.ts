/**
 * What convolutions and transposed convolutions share: options, checks and
 * the contraction over window positions behind their weight derivatives.
 */
import { einsum } from '../ops/einsum.js';
import { reshape } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Backend, FloatDType } from '../backend/backend.js';
import type { Generator } from '../tensor/random.js';
import type { Module } from './module.js';
import { expectSpatialInput } from './spatial.js';

/** A PyTorch "int or tuple" argument: one number for every spatial dimension, or one each. */
export type SpatialArg = number | readonly number[];

/** Options shared by {@link ConvOptions} and {@link ConvTransposeOptions}. */
interface CommonConvOptions {
  /** Step between window positions (default 1). */
  readonly stride?: SpatialArg;
  /** Zeros added on both sides of each spatial dimension (default 0). */
  readonly padding?: SpatialArg;
  /** Spacing between kernel taps (default 1). */
  readonly dilation?: SpatialArg;
  /** Channel groups: both channel counts must be divisible by it (default 1). */
  readonly groups?: number;
  /** Add a learnable bias (default true). */
  readonly bias?: boolean;
  readonly backend?: Backend;
  readonly dtype?: FloatDType;
  /** Generator for the initial values (default: the default generator). */
  readonly generator?: Generator;
}

/** Options of `Conv1d`, `Conv2d`, `Conv3d`. */
export type ConvOptions = CommonConvOptions;

/** Options of `ConvTranspose1d`, `ConvTranspose2d`, `ConvTranspose3d`. */
export interface ConvTransposeOptions extends CommonConvOptions {
  /**
   * Extra size added on one side of each output dimension (default 0), to
   * pick among the output sizes a strided convolution maps to the same input
   * size. Must be smaller than the stride or the dilation.
   */
  readonly outputPadding?: SpatialArg;
}

/** Checks that `groups` is a positive integer dividing both channel counts. */
export function checkGroups(where: string, inChannels: number, outChannels: number, groups: number): void {
  for (const [name, count] of [
    ['inChannels', inChannels],
    ['outChannels', outChannels],
  ] as const) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`${where}: ${name} must be a positive integer, got ${count}`);
  }
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`${where}: groups must be a positive integer, got ${groups}`);
  for (const [name, count] of [
    ['inChannels', inChannels],
    ['outChannels', outChannels],
  ] as const) {
    if (count % groups !== 0) {
      throw new RangeError(`${where}: ${name} (${count}) must be divisible by groups (${groups})`);
    }
  }
}

/** One float input `[N, inChannels, ...spatial]` of the right rank, or an error naming the module. */
export function checkConvInput(
  module: Module,
  inputs: readonly Tensor[],
  spatialRank: number,
  inChannels: number,
  weight: Tensor,
): Tensor {
  const x = expectSpatialInput(module, inputs, spatialRank);
  if (x.shape[1] !== inChannels) {
    throw new RangeError(
      `${module.describe()}: input of shape ${formatShape(x.shape)} has ${x.shape[1]} channels, but the layer expects ${inChannels} (weight ${formatShape(weight.shape)})`,
    );
  }
  return x;
}

/**
 * The weight derivative's contraction over window positions, for `mat`
 * `[V, N, G, A, L]` and `other` `[N, G, B, L]`:
 * `Σ_l mat[v, n, g, a, l] other[n, g, b, l]`, as `[V, N, G, A, B]` per sample
 * or `[V, G, A, B]` summed over n. With `matFirst` false, A and B swap places
 * in the result (`[V, N, G, B, A]`).
 *
 * The batch sum either reduces the per-sample result or contracts n along
 * with l in one product (which copies both operands into that layout),
 * whichever touches less memory.
 */
export function contractPositions(mat: Tensor, other: Tensor, matFirst: boolean, sumBatch: boolean): Tensor {
  const [v, n, g, a, l] = mat.shape as [number, number, number, number, number];
  const b = other.shape[2]!;
  const perSampleSize = v * n * g * a * b;
  if (sumBatch && perSampleSize > other.size) {
    return matFirst ? einsum('vngal,ngbl->vgab', mat, other) : einsum('ngbl,vngal->vgba', other, mat);
  }
  let perSample: Tensor;
  if (v === 1) {
    // Batched over (n, g) with the operands as stored: no copies.
    const mat4 = reshape(mat, [n, g, a, l]);
    perSample = matFirst ? einsum('ngal,ngbl->ngab', mat4, other) : einsum('ngbl,ngal->ngba', other, mat4);
    perSample = reshape(perSample, [1, ...perSample.shape]);
  } else {
    perSample = matFirst ? einsum('vngal,ngbl->vngab', mat, other) : einsum('ngbl,vngal->vngba', other, mat);
  }
  return sumBatch ? sum(perSample, 1) : perSample;
}

