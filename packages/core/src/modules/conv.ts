import { GraphNode } from './leaf-module.js';
import { add } from '../ops/elementwise.js';
import { reshape } from '../ops/layout.js';
import { matmul } from '../ops/matmul.js';
import { selectIndices } from '../ops/select.js';
import { fold, unfold, windowOutputSize } from '../ops/window.js';
import { sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ParameterJacobianOptions } from './leaf-module.js';
import { checkConvInput, contractPositions, ConvBase, type SpatialArg, type ConvOptions } from './conv-common.js';

/**
 * Convolution over `spatialRank` dimensions with PyTorch's semantics and
 * layouts (strictly cross-correlation): input `[N, inChannels, ...spatial]`,
 * weight `[outChannels, inChannels / groups, ...kernel]`, bias
 * `[outChannels]`, output `[N, outChannels, ...outSpatial]` with
 * `outSpatial = floor((spatial + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
 * Initialised uniformly in ±1/sqrt(fanIn), fanIn = inChannels / groups × kernel
 * volume, as PyTorch does.
 *
 * Computed as `unfold` (im2col) and one batched matrix product. Groups split
 * the channels into `[groups, channels / groups]`: the unfolded input
 * `[N, C·K, L]` is `[N, G, C/G·K, L]` as stored (rows are channel-major), the
 * weight `[G, out/G, C/G·K]`, and the product is batched over (N, G).
 *
 * `Conv1d`, `Conv2d` and `Conv3d` fix the rank; other ranks can subclass this.
 */
export abstract class ConvNd extends ConvBase {
  protected constructor(
    typeName: string,
    spatialRank: number,
    inChannels: number,
    outChannels: number,
    kernelSize: SpatialArg,
    options: ConvOptions = {},
  ) {
    super(typeName, spatialRank, inChannels, outChannels, kernelSize, options, (groups) => [outChannels, inChannels / groups]);
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    const x = checkConvInput(this, inputs, this.spatialRank, this.inChannels, this.weight.data);
    windowOutputSize(x.shape.slice(2), this.window, this.describe());
  }

  /** `[G, out/G, in/G · K]`: the weight as one matrix per group. */
  private groupedWeight(): Tensor {
    const g = this.groups;
    return reshape(this.weight.data, [g, this.outChannels / g, (this.inChannels / g) * sizeOf(this.kernelSize)]);
  }

  /** The unfolded input `[N, in · K, L]`, saved by the forward pass. */
  private columns(node: GraphNode): Tensor {
    return node.saved['columns'] ?? unfold(node.input, this.window);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const x = inputs[0]!;
    const n = x.shape[0]!;
    const g = this.groups;
    const outSpatial = windowOutputSize(x.shape.slice(2), this.window, this.describe());
    const positions = sizeOf(outSpatial);
    const columns = unfold(x, this.window);
    saved['columns'] = columns;
    // [G, out/G, in/G·K] @ [N, G, in/G·K, L] -> [N, G, out/G, L]
    const y = matmul(this.groupedWeight(), reshape(columns, [n, g, columns.shape[1]! / g, positions]));
    const out = reshape(y, [n, this.outChannels, ...outSpatial]);
    if (this.bias === undefined) return out;
    return add(out, reshape(this.bias.data, [this.outChannels, ...outSpatial.map(() => 1)]));
  }

  /** The recorded rows: the input's, the unfolded input's and the output's (no convolution runs again). */
  override restrictToSamples(node: GraphNode, indices: readonly number[]): GraphNode {
    const select = (t: Tensor) => selectIndices(t, 0, indices);
    return new GraphNode(this, [select(node.input)], select(node.output), { columns: select(this.columns(node)) });
  }

  /** Wᵀ per group, then `fold` back onto the input grid: `[V, N, out, ...o] -> [V, N, in, ...spatial]`. */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const g = this.groups;
    const positions = sizeOf(node.output.shape.slice(2));
    const matGrouped = reshape(mat, [v * n, g, this.outChannels / g, positions]);
    // [G, out/G, in/G·K]ᵀ @ [V·N, G, out/G, L] -> [V·N, G, in/G·K, L]
    const columns = matmul(this.groupedWeight(), matGrouped, true, false);
    const flat = reshape(columns, [v * n, this.inChannels * sizeOf(this.kernelSize), positions]);
    const spatial = node.input.shape.slice(2);
    return reshape(fold(flat, spatial, this.window), [v, n, ...node.input.shape.slice(1)]);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (name === 'bias' && this.bias !== undefined) return this.biasJacTMatProd(node, mat, options);
    if (name !== 'weight') return super.paramJacTMatProd(node, name, mat, options);
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const positions = sizeOf(node.output.shape.slice(2));
    const g = this.groups;
    const columns = this.columns(node);
    const matGrouped = reshape(mat, [v, n, g, this.outChannels / g, positions]);
    const columnsGrouped = reshape(columns, [n, g, columns.shape[1]! / g, positions]);
    // Σ_l mat[v, n, g, o, l] columns[n, g, r, l] -> [V, (N,) G, out/G, in/G·K]
    const { sumBatch } = options;
    const result = contractPositions(matGrouped, columnsGrouped, true, sumBatch);
    const weightShape = this.weight.data.shape;
    return reshape(result, sumBatch ? [v, ...weightShape] : [v, n, ...weightShape]);
  }
}

/** 1-d convolution: input `[N, C, L]`, weight `[out, in/groups, k]`, as `torch.nn.Conv1d`. */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: SpatialArg, options: ConvOptions = {}) {
    super('Conv1d', 1, inChannels, outChannels, kernelSize, options);
  }
}

/** 2-d convolution: input `[N, C, H, W]`, weight `[out, in/groups, kH, kW]`, as `torch.nn.Conv2d`. */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: SpatialArg, options: ConvOptions = {}) {
    super('Conv2d', 2, inChannels, outChannels, kernelSize, options);
  }
}

/** 3-d convolution: input `[N, C, D, H, W]`, weight `[out, in/groups, kD, kH, kW]`, as `torch.nn.Conv3d`. */
export class Conv3d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: SpatialArg, options: ConvOptions = {}) {
    super('Conv3d', 3, inChannels, outChannels, kernelSize, options);
  }
}
