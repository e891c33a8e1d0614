import { GraphNode } from './leaf-module.js';
import { contractPositions, conv, convTranspose, convWeightGrad } from '../ops/conv.js';
import { einsum } from '../ops/einsum.js';
import { reshape } from '../ops/layout.js';
import { selectIndices } from '../ops/select.js';
import { unfold, windowOutputSize } from '../ops/window.js';
import { sizeOf } from '../tensor/shape.js';
import { isGradEnabled, noGrad } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ParameterJacobianOptions } from './leaf-module.js';
import { checkConvInput, ConvBase, type SpatialArg, type ConvOptions } from './conv-common.js';

/**
 * Convolution over `spatialRank` dimensions with PyTorch's semantics and
 * layouts (strictly cross-correlation): input `[N, inChannels, ...spatial]`,
 * weight `[outChannels, inChannels / groups, ...kernel]`, bias
 * `[outChannels]`, output `[N, outChannels, ...outSpatial]` with
 * `outSpatial = floor((spatial + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
 * Initialised uniformly in ±1/sqrt(fanIn), fanIn = inChannels / groups × kernel
 * volume, as PyTorch does.
 *
 * Computed with core's `conv` ops: the backend's convolution kernels where
 * it has them, else `unfold` (im2col) and one matrix product per channel
 * group (the unfolded input is then saved for the derivatives).
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

  /**
   * The unfolded input `[N, in · K, L]` if the forward pass saved it and
   * derivatives are not being recorded: the saved copy was computed without
   * recording, so derivatives of derivatives (`createGraph`) unfold the input
   * again to depend on it.
   */
  private savedColumns(node: GraphNode): Tensor | undefined {
    return isGradEnabled() ? undefined : node.saved['columns'];
  }

  /** The unfolded input `[N, in · K, L]`: the saved one where it may be used, else unfolded now. */
  private columns(node: GraphNode): Tensor {
    return this.savedColumns(node) ?? unfold(node.input, this.window);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    // Unrecorded, so that the backend's convolution kernel may run: the module's
    // node is what the backward pass sees, and its derivatives need nothing recorded here.
    const { output, columns } = noGrad(() => conv(inputs[0]!, this.weight.data, this.window, this.groups, this.bias?.data));
    if (columns !== undefined) saved['columns'] = columns;
    return output;
  }

  /** The recorded rows: the input's, the unfolded input's and the output's (no convolution runs again). */
  override restrictToSamples(node: GraphNode, indices: readonly number[]): GraphNode {
    const select = (t: Tensor) => selectIndices(t, 0, indices);
    return new GraphNode(this, [select(node.input)], select(node.output), { columns: select(this.columns(node)) });
  }

  /** The transposed convolution of `mat` `[V, N, out, ...o]` onto the input grid: `[V, N, in, ...spatial]`. */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const flat = reshape(mat, [v * n, ...mat.shape.slice(2)]);
    const result = convTranspose(flat, this.weight.data, node.input.shape.slice(2), this.window, this.groups);
    return reshape(result, [v, n, ...node.input.shape.slice(1)]);
  }

  /** The convolution (without bias) of `mat` `[V, N, in, ...spatial]`: `[V, N, out, ...o]`. */
  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const { output } = conv(reshape(mat, [v * n, ...mat.shape.slice(2)]), this.weight.data, this.window, this.groups);
    return reshape(output, [v, ...node.output.shape]);
  }

  /** The convolution of the input with each weight tangent of `mat` `[V, ...weight]`; the bias broadcast. */
  override paramJacMatProd(node: GraphNode, name: string, mat: Tensor): Tensor {
    if (name === 'bias' && this.bias !== undefined) return this.biasJacMatProd(node, mat);
    if (name !== 'weight') return super.paramJacMatProd(node, name, mat);
    const v = mat.shape[0]!;
    const g = this.groups;
    const columns = this.columns(node);
    const [n, rows, positions] = columns.shape as [number, number, number];
    const matGrouped = reshape(mat, [v, g, this.outChannels / g, rows / g]);
    const columnsGrouped = reshape(columns, [n, g, rows / g, positions]);
    return reshape(einsum('vgor,ngrl->vngol', matGrouped, columnsGrouped), [v, ...node.output.shape]);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (name === 'bias' && this.bias !== undefined) return this.biasJacTMatProd(node, mat, options);
    if (name !== 'weight') return super.paramJacTMatProd(node, name, mat, options);
    if (options.sumBatch) return convWeightGrad(node.input, mat, this.window, this.groups, this.savedColumns(node));
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const positions = sizeOf(node.output.shape.slice(2));
    const g = this.groups;
    const columns = this.columns(node);
    const matGrouped = reshape(mat, [v, n, g, this.outChannels / g, positions]);
    const columnsGrouped = reshape(columns, [n, g, columns.shape[1]! / g, positions]);
    // Σ_l mat[v, n, g, o, l] columns[n, g, r, l] -> [V, N, G, out/G, in/G·K]
    return reshape(contractPositions(matGrouped, columnsGrouped, true, false), [v, n, ...this.weight.data.shape]);
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
