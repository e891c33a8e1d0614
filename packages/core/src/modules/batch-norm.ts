import type { Backend, FloatDType } from '../backend/backend.js';
import { fullLike, ones, zeros } from '../ops/create.js';
import { add, mul, reciprocal, sqrt, square, sub } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { selectIndices } from '../ops/select.js';
import { mean, sum } from '../ops/reduce.js';
import { broadcastTo } from '../ops/sum.js';
import { keep } from '../tensor/scope.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { GraphNode, LeafModule, type ModuleTraits, type ParameterJacobianOptions } from './leaf-module.js';
import type { Parameter } from './parameter.js';

/** Options of {@link BatchNorm1d}, {@link BatchNorm2d}, {@link BatchNorm3d} (PyTorch's defaults). */
export interface BatchNormOptions {
  /** Added to the variance for numerical stability (default 1e-5). */
  readonly eps?: number;
  /**
   * Weight of the current batch in the running statistics (default 0.1);
   * `null` averages all batches seen so far equally (PyTorch's cumulative moving average).
   */
  readonly momentum?: number | null;
  /** Learnable per-channel `weight` (ones) and `bias` (zeros) (default true). */
  readonly affine?: boolean;
  /** Backend of the parameters (default: the default backend). */
  readonly backend?: Backend;
  /** Dtype of the parameters (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
}

/**
 * Batch normalisation over the channel dimension 1 (as `nn.BatchNormNd` with
 * `track_running_stats=True`): `y = (x - mean) / sqrt(var + eps) * weight + bias`.
 *
 * - Training mode uses the batch's statistics (biased variance) over every
 *   dimension but the channel, and updates the buffers `running_mean` and
 *   `running_var` with the unbiased variance and `momentum`, and
 *   `num_batches_tracked`, as PyTorch. Samples mix through the batch
 *   statistics: `.grad` is exact, but per-sample quantities are undefined
 *   (`paramJacTMatProd(..., { sumBatch: false })` throws and
 *   {@link sampleMixingMessage} says why).
 * - Evaluation mode uses the running statistics: an affine map per channel.
 *
 * Buffers and parameters have PyTorch's names, so `loadStateDict` takes a
 * PyTorch state dict (`num_batches_tracked` is int32 here). Running statistics
 * are replaced, not mutated: the tensors this module created for them are
 * disposed when replaced (ones given to `loadStateDict` are left to their owner).
 */
export abstract class BatchNormNd extends LeafModule {
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Weight of the current batch in the running statistics; `null`: cumulative average. */
  readonly momentum: number | null;
  /** Whether the module has a learnable `weight` and `bias`. */
  readonly affine: boolean;
  /** Per-channel scale `[C]` (ones at first); `undefined` without `affine`. */
  readonly weight: Parameter | undefined;
  /** Per-channel shift `[C]` (zeros at first); `undefined` without `affine`. */
  readonly bias: Parameter | undefined;
  /** Affine in weight and bias; per-sample products only in evaluation mode ({@link sampleMixingMessage} says when not). */
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true, affineInParameters: true };
  /** Running statistics this module created itself (disposed when replaced). */
  private readonly ownStatistics = new Set<Tensor>();

  constructor(
    readonly typeName: string,
    /** Accepted numbers of spatial dimensions after `[N, C]` (BatchNorm1d: 0 or 1). */
    private readonly spatialRanks: readonly number[],
    private readonly layouts: string,
    /** Number of channels C (dimension 1 of the input). */
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new RangeError(`${typeName}: numFeatures must be an integer >= 1, got ${numFeatures}`);
    }
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (!(this.eps > 0)) throw new RangeError(`${typeName}: eps must be > 0, got ${this.eps}`);
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new RangeError(`${typeName}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    this.affine = options.affine ?? true;
    const create = { backend: options.backend, dtype: options.dtype };
    this.weight = this.affine ? this.registerParameter('weight', ones([numFeatures], create)) : undefined;
    this.bias = this.affine ? this.registerParameter('bias', zeros([numFeatures], create)) : undefined;
    this.setStatistic('running_mean', zeros([numFeatures], create));
    this.setStatistic('running_var', ones([numFeatures], create));
    const backend = this.buffer('running_mean').backend;
    this.setStatistic('num_batches_tracked', zeros([], { backend, dtype: 'int32' }));
  }

  /** Replaces a running statistic, disposing the previous one if this module created it. */
  private setStatistic(name: string, value: Tensor): void {
    let previous: Tensor | undefined;
    try {
      previous = this.buffer(name);
    } catch {
      previous = undefined;
    }
    this.registerBuffer(name, keep(value));
    this.ownStatistics.add(value);
    if (previous !== undefined && previous !== value && this.ownStatistics.delete(previous)) previous.dispose();
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1) throw new RangeError(`${this.describe()}: expects 1 input(s), got ${inputs.length}`);
    const x = inputs[0]!;
    x.assertAlive(this.describe());
    if (x.dtype === 'int32') {
      throw new TypeError(`${this.describe()}: expects a float input, got int32 of shape ${formatShape(x.shape)}`);
    }
    if (!this.spatialRanks.includes(x.rank - 2)) {
      throw new RangeError(`${this.describe()} expects ${this.layouts} (batch first), got shape ${formatShape(x.shape)}`);
    }
    if (x.shape[1] !== this.numFeatures) {
      throw new RangeError(
        `${this.describe()}: input of shape ${formatShape(x.shape)} has ${x.shape[1]} channels (dimension 1), but the module expects ${this.numFeatures} (numFeatures)`,
      );
    }
    if (this.training && x.size / this.numFeatures <= 1) {
      throw new RangeError(
        `${this.describe()}: expected more than 1 value per channel when training, got input of shape ${formatShape(x.shape)}`,
      );
    }
  }

  /** `[C]` reshaped to `[C, 1, ...]` with `spatialDims` ones: broadcasts against `[..., C, ...spatial]`. */
  private perChannel(t: Tensor, spatialDims: number): Tensor {
    return reshape(t, [this.numFeatures, ...new Array<number>(spatialDims).fill(1)]);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const x = inputs[0]!;
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    let normalized: Tensor;
    if (this.training) {
      const batchMean = mean(x, axes, true);
      const centered = sub(x, batchMean);
      const batchVar = mean(square(centered), axes, true);
      const invStd = reciprocal(sqrt(add(batchVar, this.eps)));
      normalized = mul(centered, invStd);
      saved['batchInvStd'] = reshape(invStd, [this.numFeatures]);
      this.updateRunningStatistics(reshape(batchMean, [this.numFeatures]), reshape(batchVar, [this.numFeatures]), x.size / this.numFeatures);
    } else {
      const invStd = reciprocal(sqrt(add(this.buffer('running_var'), this.eps)));
      const spatialDims = x.rank - 2;
      normalized = mul(sub(x, this.perChannel(this.buffer('running_mean'), spatialDims)), this.perChannel(invStd, spatialDims));
      saved['runningInvStd'] = invStd;
    }
    saved['normalized'] = normalized;
    if (this.weight === undefined || this.bias === undefined) return normalized;
    return add(mul(normalized, this.perChannel(this.weight.data, x.rank - 2)), this.perChannel(this.bias.data, x.rank - 2));
  }

  /** PyTorch's update: `running = (1 - m) running + m batch`, with the unbiased batch variance. */
  private updateRunningStatistics(batchMean: Tensor, biasedVar: Tensor, count: number): void {
    const tracked = add(this.buffer('num_batches_tracked'), 1);
    this.setStatistic('num_batches_tracked', tracked);
    const factor = this.momentum ?? 1 / tracked.item();
    const unbiasedVar = mul(biasedVar, count / (count - 1));
    const update = (name: string, batch: Tensor) =>
      this.setStatistic(name, add(mul(this.buffer(name), 1 - factor), mul(batch, factor)));
    update('running_mean', batchMean);
    update('running_var', unbiasedVar);
  }

  /** Whether the node was recorded in training mode (normalised with batch statistics). */
  private usedBatchStatistics(node: GraphNode): boolean {
    return node.saved['batchInvStd'] !== undefined;
  }

  override sampleMixingMessage(node: GraphNode): string | undefined {
    if (!this.usedBatchStatistics(node)) return undefined;
    return (
      `${this.describe()} is in training mode: it normalises with the statistics of the whole batch, so samples mix ` +
      'and per-sample quantities (individual gradients, per-sample curvature) are undefined; ' +
      'call eval() on the model to use the running statistics'
    );
  }

  /**
   * The recorded rows, with the recorded running statistics (running the
   * forward math again would use the current mode and statistics). A call
   * in training mode mixes the samples and has no restriction.
   */
  override restrictToSamples(node: GraphNode, indices: readonly number[]): GraphNode {
    if (this.usedBatchStatistics(node)) throw new Error(this.sampleMixingMessage(node));
    const select = (t: Tensor) => selectIndices(t, 0, indices);
    const saved = { runningInvStd: node.saved['runningInvStd']!, normalized: select(node.saved['normalized']!) };
    return new GraphNode(this, [select(node.input)], select(node.output), saved);
  }

  /** Per-channel factor of the Jacobian, `weight / sqrt(var + eps)`, shaped `[C, 1, ...]` (the input's spatial rank). */
  private scale(node: GraphNode): Tensor {
    const invStd = node.saved['batchInvStd'] ?? node.saved['runningInvStd']!;
    const scale = this.weight === undefined ? invStd : mul(invStd, this.weight.data);
    return this.perChannel(scale, node.input.rank - 2);
  }

  jacTMatProd(node: GraphNode, mat: Tensor, _inputIndex = 0): Tensor {
    const scale = this.scale(node);
    if (!this.usedBatchStatistics(node)) return mul(mat, scale);
    // Through the batch statistics: dx = scale (g - mean(g) - x̂ mean(g x̂)), means per channel over N and space.
    const normalized = node.saved['normalized']!;
    const axes = mat.shape.map((_, i) => i).filter((i) => i !== 0 && i !== 2);
    const centered = sub(mat, mean(mat, axes, true));
    const projection = mul(normalized, mean(mul(mat, normalized), axes, true));
    return mul(sub(centered, projection), scale);
  }

  /**
   * The Jacobian is its own transpose (per channel: the scale times, in
   * training mode, a symmetric projection), so this is {@link jacTMatProd}.
   * Direct, since running the forward again would update the running statistics.
   */
  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    return this.jacTMatProd(node, mat);
  }

  /** `mat` `[V, C]` per channel: times the normalised input for the weight, broadcast for the bias. */
  override paramJacMatProd(node: GraphNode, name: string, mat: Tensor): Tensor {
    if (this.weight === undefined || (name !== 'weight' && name !== 'bias')) return super.paramJacMatProd(node, name, mat);
    const v = mat.shape[0]!;
    const perChannel = reshape(mat, [v, 1, this.numFeatures, ...node.input.shape.slice(2).map(() => 1)]);
    const outShape = [v, ...node.output.shape];
    return name === 'weight' ? mul(perChannel, node.saved['normalized']!) : broadcastTo(perChannel, outShape);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (this.weight === undefined || (name !== 'weight' && name !== 'bias')) {
      return super.paramJacTMatProd(node, name, mat, options);
    }
    const { sumBatch } = options;
    if (!sumBatch && this.usedBatchStatistics(node)) {
      throw new Error(`${this.sampleMixingMessage(node)} (asked for per-sample derivatives of '${name}')`);
    }
    // mat is [V, N, C, ...spatial]: sum over space, and over the batch when asked.
    const axes = mat.shape.map((_, i) => i).filter((i) => i >= 3 || (sumBatch && i === 1));
    return sum(name === 'weight' ? mul(mat, node.saved['normalized']!) : mat, axes);
  }

  /**
   * Evaluation mode: `J_n = diag(s)` for every sample, so the product is `M ⊙ s sᵀ`.
   * Training mode refuses (samples mix; see {@link sampleMixingMessage}).
   */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor, _inputIndex = 0): Tensor {
    const reason = this.sampleMixingMessage(node);
    if (reason !== undefined) throw new Error(reason);
    const perSample = node.input.shape.slice(1);
    const s = reshape(mul(this.scale(node), fullLike(mat, 1, perSample)), [sizeOf(perSample)]);
    return mul(mat, mul(reshape(s, [-1, 1]), reshape(s, [1, -1])));
  }

  /** Evaluation mode is affine in the input: no residual. Training mode refuses. */
  override residualHessianDiagonal(node: GraphNode, _gradOutput: Tensor): Tensor | undefined {
    const reason = this.sampleMixingMessage(node);
    if (reason !== undefined) throw new Error(reason);
    return undefined;
  }
}

/** Batch normalisation of `[N, C]` or `[N, C, L]` (as `nn.BatchNorm1d`). */
export class BatchNorm1d extends BatchNormNd {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm1d', [0, 1], '[N, C] or [N, C, L]', numFeatures, options);
  }
}

/** Batch normalisation of `[N, C, H, W]` (as `nn.BatchNorm2d`). */
export class BatchNorm2d extends BatchNormNd {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm2d', [2], '[N, C, H, W]', numFeatures, options);
  }
}

/** Batch normalisation of `[N, C, D, H, W]` (as `nn.BatchNorm3d`). */
export class BatchNorm3d extends BatchNormNd {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super('BatchNorm3d', [3], '[N, C, D, H, W]', numFeatures, options);
  }
}
