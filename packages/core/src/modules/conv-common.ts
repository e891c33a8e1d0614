/**
 * What convolutions and transposed convolutions share: options, checks, and
 * the base class with their geometry and parameters.
 */
import type { GraphNode } from './leaf-module.js';
import { concat, reshape, slice, transpose } from '../ops/layout.js';
import { sum } from '../ops/reduce.js';
import { broadcastTo } from '../ops/sum.js';
import { defaultGenerator } from '../ops/default-generator.js';
import { tidy } from '../tensor/scope.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Backend, FloatDType, WindowGeometry } from '../backend/backend.js';
import type { Generator } from '../ops/random.js';
import { LeafModule, type ModuleTraits, type ParameterJacobianOptions } from './leaf-module.js';
import type { Module } from './module.js';
import type { Parameter } from './parameter.js';
import { expandTuple, expectSpatialInput } from './spatial.js';

/**
 * Entries of the unfolded intermediate a chunk of KFRA's row products may
 * hold (2^24: 64 MB in float32).
 */
const ROWS_CHUNK_ENTRIES = 1 << 24;

/** A PyTorch "int or tuple" argument: one number for every spatial dimension, or one each. */
export type SpatialArg = number | readonly number[];

/** Options shared by {@link ConvOptions} and {@link ConvTransposeOptions}. */
export interface CommonConvOptions {
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
  /** Backend of the parameters (default: the default backend). */
  readonly backend?: Backend;
  /** Dtype of the parameters (default float64 where the backend has it, else float32). */
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
 * The base of `ConvNd` and `ConvTransposeNd`: channel counts, groups, the
 * window geometry, and weight and bias initialised uniformly in
 * ±1/sqrt(fanIn) as PyTorch does, with fanIn = the weight's dimension 1 ×
 * kernel volume.
 */
export abstract class ConvBase extends LeafModule {
  readonly typeName: string;
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true, affineInParameters: true };
  /** `[out, in / groups, ...kernel]` for a convolution, `[in, out / groups, ...kernel]` for a transposed one (PyTorch's layouts). */
  readonly weight: Parameter;
  /** `[out]`, or `undefined` when created with `bias: false`. */
  readonly bias: Parameter | undefined;
  /** Kernel size per spatial dimension. */
  readonly kernelSize: readonly number[];
  /** Stride per spatial dimension. */
  readonly stride: readonly number[];
  /** Zero padding per spatial dimension (both sides). */
  readonly padding: readonly number[];
  /** Dilation per spatial dimension. */
  readonly dilation: readonly number[];
  /** Number of channel groups. */
  readonly groups: number;
  /**
   * The window of the convolution: sliding over the input of a convolution,
   * over the output of a transposed one (the window of the convolution it is
   * the transpose of).
   */
  readonly window: WindowGeometry;

  /**
   * `weightChannels` are the weight's dimensions before the kernel
   * (`[out, in / groups]` for a convolution, `[in, out / groups]` for a
   * transposed one). `checkGeometry` runs on the expanded stride and dilation
   * before any initial value is drawn, so a rejected module leaves the
   * generator untouched.
   */
  protected constructor(
    typeName: string,
    /** Number of spatial dimensions (1, 2 or 3). */
    readonly spatialRank: number,
    /** Channels of the input (dimension 1). */
    readonly inChannels: number,
    /** Channels of the output (dimension 1). */
    readonly outChannels: number,
    kernelSize: SpatialArg,
    options: CommonConvOptions,
    weightChannels: (groups: number) => readonly [number, number],
    checkGeometry: (stride: readonly number[], dilation: readonly number[]) => void = () => {},
  ) {
    super();
    this.typeName = typeName;
    this.groups = options.groups ?? 1;
    checkGroups(typeName, inChannels, outChannels, this.groups);
    this.kernelSize = expandTuple(typeName, 'kernelSize', kernelSize, spatialRank, 1);
    this.stride = expandTuple(typeName, 'stride', options.stride ?? 1, spatialRank, 1);
    this.padding = expandTuple(typeName, 'padding', options.padding ?? 0, spatialRank, 0);
    this.dilation = expandTuple(typeName, 'dilation', options.dilation ?? 1, spatialRank, 1);
    checkGeometry(this.stride, this.dilation);
    this.window = { kernel: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation };

    const generator = options.generator ?? defaultGenerator;
    const weightShape = [...weightChannels(this.groups), ...this.kernelSize];
    const bound = 1 / Math.sqrt(sizeOf(weightShape.slice(1)));
    const create = { low: -bound, high: bound, backend: options.backend, dtype: options.dtype };
    this.weight = this.registerParameter('weight', generator.uniform(weightShape, create));
    this.bias = options.bias === false ? undefined : this.registerParameter('bias', generator.uniform([outChannels], create));
  }

  /**
   * KFRA's batch average `(1/N) Σ_n J_nᵀ M J_n` for a symmetric `mat` M
   * `[D_out, D_out]`. The Jacobian w.r.t. the input depends on the weight
   * only, the same J for every sample, so the average is `Jᵀ M J`:
   * `jacTMatProd` on the rows of M gives `M J` (M is symmetric), on the
   * columns of that `Jᵀ M J`. Each row is one "sample" of a batch, so the
   * cost does not grow with N and no `[D, N, D]` tensor is built.
   */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor): Tensor {
    // Scoped: the chunks and `M J` are released as soon as the product exists.
    return tidy(() => this.jacTMatProdOfRows(node, transpose(this.jacTMatProdOfRows(node, mat), 0, 1)));
  }

  /**
   * `Jᵀ r` for every row r of `rows` `[R, D_out]`, as rows `[R, D_in]`. The
   * rows go through in chunks whose unfolded intermediate (`rows · D · K`
   * entries, K the kernel volume) stays near {@link ROWS_CHUNK_ENTRIES}, so
   * that the memory for a layer with a large output stays bounded.
   */
  private jacTMatProdOfRows(node: GraphNode, rows: Tensor): Tensor {
    const [count, dOut] = rows.shape as [number, number];
    const outShape = node.output.shape.slice(1);
    const dIn = sizeOf(node.input.shape.slice(1));
    const chunk = Math.max(1, Math.floor(ROWS_CHUNK_ENTRIES / (Math.max(dIn, dOut) * sizeOf(this.kernelSize))));
    const parts: Tensor[] = [];
    for (let start = 0; start < count; start += chunk) {
      const size = Math.min(chunk, count - start);
      const part = size === count ? rows : slice(rows, [start, 0], [size, dOut]);
      parts.push(tidy(() => reshape(this.jacTMatProd(node, reshape(part, [1, size, ...outShape]), 0), [size, dIn])));
    }
    return parts.length === 1 ? parts[0]! : concat(parts, 0);
  }

  /** `paramJacMatProd` of the bias: `mat` `[V, out]` broadcast over the batch and the positions. */
  protected biasJacMatProd(node: GraphNode, mat: Tensor): Tensor {
    const outShape = node.output.shape;
    return broadcastTo(reshape(mat, [mat.shape[0]!, 1, this.outChannels, ...outShape.slice(2).map(() => 1)]), [mat.shape[0]!, ...outShape]);
  }

  /** `paramJacTMatProd` of the bias: `mat` `[V, N, out, ...o]` summed over positions (and the batch). */
  protected biasJacTMatProd(node: GraphNode, mat: Tensor, { sumBatch }: ParameterJacobianOptions): Tensor {
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const matFlat = reshape(mat, [v, n, this.outChannels, sizeOf(node.output.shape.slice(2))]);
    return sum(matFlat, sumBatch ? [1, 3] : [3]);
  }
}
