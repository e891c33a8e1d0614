import type { GraphNode } from './leaf-module.js';
import { contractPositions, conv, convTranspose, convWeightGrad } from '../ops/conv.js';
import { add } from '../ops/elementwise.js';
import { pad, reshape, slice } from '../ops/layout.js';
import { unfold, windowOutputSize } from '../ops/window.js';
import { formatShape, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ParameterJacobianOptions } from './leaf-module.js';
import { checkConvInput, ConvBase, type SpatialArg, type ConvTransposeOptions } from './conv-common.js';
import { expandTuple } from './spatial.js';

/**
 * Transposed convolution over `spatialRank` dimensions with PyTorch's
 * semantics and layouts: input `[N, inChannels, ...spatial]`, weight
 * `[inChannels, outChannels / groups, ...kernel]`, bias `[outChannels]`,
 * output `[N, outChannels, ...outSpatial]` with
 * `outSpatial = (spatial - 1) stride - 2 padding + dilation (kernel - 1) + outputPadding + 1`.
 * Initialised uniformly in ±1/sqrt(fanIn) with fanIn = outChannels / groups ×
 * kernel volume (PyTorch computes it from the weight's dimension 1).
 *
 * It is the adjoint of the convolution with the same window from
 * `outChannels` to `inChannels` (whose weight `[in, out/G, ...k]` is this
 * layer's): core's `convTranspose` op, the backend's kernel where it has one,
 * else a matrix product per group (columns `[N, G, out/G·K, L]`, L = window
 * positions over the output, one per input element) and `fold` (col2im)
 * onto the output grid. Its derivatives are that convolution's.
 *
 * When `outputPadding >= stride` (allowed if it is below the dilation), the
 * window fits more positions into the output than the input has elements;
 * the input is padded with zeros at the end to match.
 */
export abstract class ConvTransposeNd extends ConvBase {
  /** Extra size added to one side of each spatial dimension of the output. */
  readonly outputPadding: readonly number[];

  protected constructor(
    typeName: string,
    spatialRank: number,
    inChannels: number,
    outChannels: number,
    kernelSize: SpatialArg,
    options: ConvTransposeOptions = {},
  ) {
    // Expanded and checked with the base's geometry, before the parameters are drawn.
    let outputPadding: readonly number[] = [];
    const checkOutputPadding = (stride: readonly number[], dilation: readonly number[]) => {
      outputPadding = expandTuple(typeName, 'outputPadding', options.outputPadding ?? 0, spatialRank, 0);
      outputPadding.forEach((op, d) => {
        if (op >= stride[d]! && op >= dilation[d]!) {
          throw new RangeError(
            `${typeName}: outputPadding (${op}) must be smaller than either stride (${stride[d]}) or dilation (${dilation[d]}) in spatial dimension ${d}`,
          );
        }
      });
    };
    super(typeName, spatialRank, inChannels, outChannels, kernelSize, options, (groups) => [inChannels, outChannels / groups], checkOutputPadding);
    this.outputPadding = outputPadding;
  }

  /** The output's spatial size for an input of spatial size `spatial`. */
  outputSize(spatial: readonly number[]): number[] {
    return spatial.map(
      (size, d) =>
        (size - 1) * this.stride[d]! -
        2 * this.padding[d]! +
        this.dilation[d]! * (this.kernelSize[d]! - 1) +
        this.outputPadding[d]! +
        1,
    );
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    const x = checkConvInput(this, inputs, this.spatialRank, this.inChannels, this.weight.data);
    const spatial = x.shape.slice(2);
    const outSpatial = this.outputSize(spatial);
    if (spatial.some((s) => s < 1) || outSpatial.some((s) => s < 1)) {
      throw new RangeError(
        `${this.describe()}: input of shape ${formatShape(x.shape)} gives output size [${outSpatial.join(', ')}] (stride [${this.stride.join(', ')}], padding [${this.padding.join(', ')}], dilation [${this.dilation.join(', ')}], kernel [${this.kernelSize.join(', ')}], outputPadding [${this.outputPadding.join(', ')}]); every size must be at least 1`,
      );
    }
  }

  /** Window positions over the output: the input's spatial size, plus any outputPadding overhang. */
  private positions(outSpatial: readonly number[]): number[] {
    return windowOutputSize(outSpatial, this.window, this.describe());
  }

  /** The input padded with zeros at the end to the window positions `positions` (itself if they agree). */
  private padInput(x: Tensor, positions: readonly number[]): Tensor {
    const spatial = x.shape.slice(2);
    if (positions.every((p, d) => p === spatial[d])) return x;
    const after = [0, 0, ...positions.map((p, d) => p - spatial[d]!)];
    return pad(x, after.map(() => 0), after);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    const x = inputs[0]!;
    const outSpatial = this.outputSize(x.shape.slice(2));
    const padded = this.padInput(x, this.positions(outSpatial));
    if (padded !== x) saved['paddedInput'] = padded;
    const out = convTranspose(padded, this.weight.data, outSpatial, this.window, this.groups);
    if (this.bias === undefined) return out;
    return add(out, reshape(this.bias.data, [this.outChannels, ...outSpatial.map(() => 1)]));
  }

  /** The convolution of `mat` `[V, N, out, ...o]` with the weight: `[V, N, in, ...spatial]`. */
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const { output } = conv(reshape(mat, [v * n, ...mat.shape.slice(2)]), this.weight.data, this.window, this.groups);
    const positions = output.shape.slice(2);
    const result = reshape(output, [v, n, this.inChannels, ...positions]);
    const inShape = node.input.shape;
    if (positions.every((p, d) => p === inShape[d + 2])) return result;
    return slice(result, [], [v, n, ...inShape.slice(1)]);
  }

  /** The transposed convolution (without bias) of `mat` `[V, N, in, ...spatial]`: `[V, N, out, ...o]`. */
  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const outSpatial = node.output.shape.slice(2);
    const padded = this.padInput(reshape(mat, [v * n, ...mat.shape.slice(2)]), this.positions(outSpatial));
    return reshape(convTranspose(padded, this.weight.data, outSpatial, this.window, this.groups), [v, ...node.output.shape]);
  }

  /** The bias broadcast; the weight through the recorded forward (the default). */
  override paramJacMatProd(node: GraphNode, name: string, mat: Tensor): Tensor {
    if (name === 'bias' && this.bias !== undefined) return this.biasJacMatProd(node, mat);
    return super.paramJacMatProd(node, name, mat);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (name === 'bias' && this.bias !== undefined) return this.biasJacTMatProd(node, mat, options);
    if (name !== 'weight') return super.paramJacTMatProd(node, name, mat, options);
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const outSpatial = node.output.shape.slice(2);
    const positions = this.positions(outSpatial);
    const input = node.saved['paddedInput'] ?? this.padInput(node.input, positions);
    const { sumBatch } = options;
    if (sumBatch && v === 1) {
      // The weight gradient of the convolution this layer is the adjoint of: its input is `mat`, its output gradient the input.
      const convMat = reshape(input, [1, n, this.inChannels, ...positions]);
      return convWeightGrad(reshape(mat, [n, this.outChannels, ...outSpatial]), convMat, this.window, this.groups);
    }
    const g = this.groups;
    const columns = unfold(reshape(mat, [v * n, this.outChannels, ...outSpatial]), this.window);
    const length = sizeOf(positions);
    const matGrouped = reshape(columns, [v, n, g, columns.shape[1]! / g, length]);
    const inputGrouped = reshape(input, [n, g, this.inChannels / g, length]);
    // Σ_l input[n, g, c, l] columns[v, n, g, r, l] -> [V, (N,) G, in/G, out/G·K]
    const result = contractPositions(matGrouped, inputGrouped, false, sumBatch);
    const weightShape = this.weight.data.shape;
    return reshape(result, sumBatch ? [v, ...weightShape] : [v, n, ...weightShape]);
  }
}

/** 1-d transposed convolution: input `[N, C, L]`, weight `[in, out/groups, k]`, as `torch.nn.ConvTranspose1d`. */
export class ConvTranspose1d extends ConvTransposeNd {
  constructor(inChannels: number, outChannels: number, kernelSize: SpatialArg, options: ConvTransposeOptions = {}) {
    super('ConvTranspose1d', 1, inChannels, outChannels, kernelSize, options);
  }
}

/** 2-d transposed convolution: input `[N, C, H, W]`, weight `[in, out/groups, kH, kW]`, as `torch.nn.ConvTranspose2d`. */
export class ConvTranspose2d extends ConvTransposeNd {
  constructor(inChannels: number, outChannels: number, kernelSize: SpatialArg, options: ConvTransposeOptions = {}) {
    super('ConvTranspose2d', 2, inChannels, outChannels, kernelSize, options);
  }
}

/** 3-d transposed convolution: input `[N, C, D, H, W]`, weight `[in, out/groups, kD, kH, kW]`, as `torch.nn.ConvTranspose3d`. */
export class ConvTranspose3d extends ConvTransposeNd {
  constructor(inChannels: number, outChannels: number, kernelSize: SpatialArg, options: ConvTransposeOptions = {}) {
    super('ConvTranspose3d', 3, inChannels, outChannels, kernelSize, options);
  }
}
