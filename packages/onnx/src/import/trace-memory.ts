/**
 * What one module's forward pass allocates in the import's trace, estimated
 * from the input shapes and the module's geometry before it runs: the
 * operators whose output or working memory can be far larger than their
 * input (a convolution with huge pads or a huge transposed stride unfolds
 * into im2col columns, a pool over a huge window likewise) are counted with
 * their columns; the rest allocate about their input's size.
 */
import {
  AvgPoolNd,
  ConvNd,
  ConvTransposeNd,
  Embedding,
  Linear,
  MaxPoolNd,
  ZeroPad2d,
  sizeOf,
  windowOutputSize,
  type LeafModule,
  type WindowGeometry,
} from '@backpack-ts/core';

/** Output positions of a window over `spatial`, 0 where the kernel does not fit (the module itself then refuses the input). */
function positions(spatial: readonly number[], window: WindowGeometry): number {
  try {
    return sizeOf(windowOutputSize(spatial, window));
  } catch {
    return 0;
  }
}

/** Elements of the im2col columns and the output of a window operator over `[N, C, ...spatial]` with `outChannels` outputs. */
function windowElements(shape: readonly number[], window: WindowGeometry, outChannels: number): number {
  const [n, c] = [shape[0]!, shape[1]!];
  const count = positions(shape.slice(2), window);
  // Columns [N, C·K, L], the output [N, out, L] and one more of its size (bias, reshape, division).
  return n * c * sizeOf(window.kernel) * count + 2 * n * outChannels * count;
}

/**
 * Elements (of the model's float type) `module` allocates when it runs on
 * inputs of shapes `inputs`: an upper estimate, for the memory limit.
 */
export function forwardElements(module: LeafModule, inputs: readonly (readonly number[])[]): number {
  const x = inputs[0] ?? [];
  const inputSize = inputs.reduce((total, shape) => total + sizeOf(shape), 0);
  if (module instanceof Linear) return 2 * (sizeOf(x) / module.inFeatures) * module.outFeatures;
  if (module instanceof Embedding) return sizeOf(x) * module.embeddingDim;
  // Spatial modules check their input's rank when they run.
  if (x.length < 3) return 2 * inputSize;
  if (module instanceof ConvNd) return windowElements(x, module.window, module.outChannels);
  if (module instanceof ConvTransposeNd) {
    // Columns [N, out·K, L_in], folded onto the output grid, plus the bias.
    const outSpatial = module.outputSize(x.slice(2)).map((s) => Math.max(s, 0));
    return x[0]! * module.outChannels * (sizeOf(module.kernelSize) * sizeOf(x.slice(2)) + 2 * sizeOf(outSpatial));
  }
  if (module instanceof MaxPoolNd || module instanceof AvgPoolNd) {
    const dilation = module instanceof MaxPoolNd ? module.dilation : module.kernelSize.map(() => 1);
    const window = { kernel: module.kernelSize, stride: module.stride, padding: module.padding, dilation };
    // Max pooling first pads the input with -∞.
    const padded = sizeOf(x.slice(0, 2)) * sizeOf(x.slice(2).map((s, d) => s + 2 * module.padding[d]!));
    return padded + windowElements(x, window, x[1]!);
  }
  if (module instanceof ZeroPad2d) {
    const [left, right, top, bottom] = module.padding;
    return sizeOf(x.slice(0, 2)) * Math.max(x[2]! + top + bottom, 0) * Math.max(x[3]! + left + right, 0);
  }
  return 2 * inputSize;
}
