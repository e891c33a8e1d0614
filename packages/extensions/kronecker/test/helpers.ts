/** Shared test helpers: golden cases as reference problems, running extensions, comparisons. */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  compareArrays,
  compareQuantity,
  type CompareReport,
  type GoldenCase,
  type GoldenLayerSpec,
  type GoldenTensor,
} from '@backpack-ts/conformance';
import { backpack, type Extension, type LossModule, type Module, type Parameter, type Tensor } from '@backpack-ts/core';
import { activation, toMatrix, type Matrix, type RefLayer, type RefLossKind, type RefProblem, type RefTensor } from './reference.js';
import {
  adaptiveAvgPool,
  avgPool,
  convOutSpatial,
  maxPool,
  product,
  zeroPad2d,
  type BatchNormSpec,
  type ConvSpec,
} from './reference-layers.js';
import { shapeLayer } from './reference-shapes.js';

export const TOLERANCE = 1e-10;
export const float64 = { backend: cpu, dtype: 'float64' as const };

/** Splits `[N, ...]` row-major data into one flat array per sample. */
export function perSample(data: ArrayLike<number>, n: number): number[][] {
  const per = data.length / n;
  return Array.from({ length: n }, (_, i) => Array.from({ length: per }, (_, j) => data[i * per + j]!));
}

/** A golden "int or tuple" argument as one number per spatial dimension. */
function spatialArg(value: unknown, rank: number, fallback: number | readonly number[]): number[] {
  const v = value ?? fallback;
  return typeof v === 'number' ? new Array<number>(rank).fill(v) : [...(v as number[])];
}

/**
 * One golden layer spec as a reference layer, for a per-sample input of
 * shape `inShape`; returns the layer and its per-sample output shape.
 */
export function refLayerFromSpec(
  spec: GoldenLayerSpec,
  inShape: readonly number[],
  params: (local: string) => GoldenTensor | undefined,
  buffers: (local: string) => GoldenTensor | undefined,
): { layer: RefLayer; outShape: number[] } {
  const rank = inShape.length - 1;
  const [channels, spatial] = [inShape[0]!, inShape.slice(1)];
  const convLike = spec.type.startsWith('Conv');
  if (spec.type === 'Linear') {
    const w = params('weight')!;
    const b = params('bias');
    const layer: RefLayer = {
      kind: 'linear',
      weight: toMatrix(w.data, w.shape[0]!, w.shape[1]!),
      ...(b === undefined ? {} : { bias: [...b.data] }),
    };
    return { layer, outShape: [...inShape.slice(0, -1), w.shape[0]!] };
  }
  if (convLike) {
    const transposed = spec.type.startsWith('ConvTranspose');
    const bias = params('bias');
    const conv: ConvSpec = {
      transposed,
      inChannels: spec['in'] as number,
      outChannels: spec['out'] as number,
      kernel: spatialArg(spec['kernel'], rank, 1),
      stride: spatialArg(spec['stride'], rank, 1),
      padding: spatialArg(spec['padding'], rank, 0),
      dilation: spatialArg(spec['dilation'], rank, 1),
      outputPadding: spatialArg(spec['output_padding'], rank, 0),
      groups: (spec['groups'] as number | undefined) ?? 1,
      weight: [...params('weight')!.data],
      ...(bias === undefined ? {} : { bias: [...bias.data] }),
      inSpatial: spatial,
    };
    return { layer: { kind: 'conv', spec: conv }, outShape: [conv.outChannels, ...convOutSpatial(conv)] };
  }
  if (spec.type.startsWith('MaxPool') || spec.type.startsWith('AvgPool')) {
    const kernel = spatialArg(spec['kernel'], rank, 1);
    const window = {
      kernel,
      stride: spatialArg(spec['stride'], rank, kernel),
      padding: spatialArg(spec['padding'], rank, 0),
      dilation: spatialArg(spec['dilation'], rank, 1),
    };
    const pool = spec.type.startsWith('MaxPool') ? maxPool(channels, spatial, window) : avgPool(channels, spatial, window);
    return { layer: { kind: 'map', forward: pool.forward, jacobian: pool.jacobian }, outShape: pool.outShape };
  }
  if (spec.type.startsWith('AdaptiveAvgPool')) {
    const sizes = spatialArg(spec['output_size'], rank, 1).map((s, d) => s ?? spatial[d]!);
    const pool = adaptiveAvgPool(channels, spatial, sizes);
    return { layer: { kind: 'map', forward: pool.forward, jacobian: pool.jacobian }, outShape: pool.outShape };
  }
  if (spec.type === 'ZeroPad2d') {
    const p = spec['padding'];
    const sides = (typeof p === 'number' ? [p, p, p, p] : p) as [number, number, number, number];
    const pad = zeroPad2d(channels, spatial, sides);
    return { layer: { kind: 'map', forward: pad.forward, jacobian: pad.jacobian }, outShape: pad.outShape };
  }
  if (spec.type.startsWith('BatchNorm')) {
    const norm: BatchNormSpec = {
      channels,
      positions: product(spatial),
      weight: [...params('weight')!.data],
      bias: [...params('bias')!.data],
      runningMean: [...buffers('running_mean')!.data],
      runningVar: [...buffers('running_var')!.data],
      eps: (spec['eps'] as number | undefined) ?? 1e-5,
    };
    return { layer: { kind: 'batchnorm', spec: norm }, outShape: [...inShape] };
  }
  if (spec.type === 'Embedding') {
    const w = params('weight')!;
    return { layer: { kind: 'embedding', table: toMatrix(w.data, w.shape[0]!, w.shape[1]!) }, outShape: [...inShape, w.shape[1]!] };
  }
  const shaped = shapeLayer(spec, inShape);
  if (shaped !== undefined) return { layer: { kind: 'map', forward: shaped.forward, jacobian: shaped.jacobian }, outShape: shaped.outShape };
  if (spec.type === 'ScaleModule') {
    const w = spec['weight'] as number;
    return { layer: { kind: 'elementwise', activation: { f: (x) => w * x, df: () => w, d2f: () => 0 } }, outShape: [...inShape] };
  }
  if (spec.type === 'Flatten') return { layer: { kind: 'identity' }, outShape: [product(inShape)] };
  if (spec.type === 'Identity' || spec.type === 'Dropout') return { layer: { kind: 'identity' }, outShape: [...inShape] }; // evaluation mode
  return { layer: { kind: 'elementwise', activation: activation(spec.type, spec) }, outShape: [...inShape] };
}

/** A golden case as a reference problem (layers with the stored parameters, evaluation mode). */
export function refProblemFromGolden(golden: GoldenCase): RefProblem {
  let shape: readonly number[] = golden.case.input.shape;
  const layers: RefLayer[] = golden.case.layers.map((spec, k) => {
    const { layer, outShape } = refLayerFromSpec(
      spec,
      shape,
      (local) => golden.params[`${k}.${local}`],
      (local) => golden.buffers?.[`${k}.${local}`],
    );
    shape = outShape;
    return layer;
  });
  const n = golden.case.batch;
  const kind = golden.case.loss.type as RefLossKind;
  return {
    layers,
    loss: { kind, reduction: golden.case.loss.reduction ?? 'mean' },
    sampleShape: golden.case.input.shape,
    inputs: perSample(golden.input.data, n),
    // CrossEntropyLoss: one class index per sample, or per position ([N, d1, ...] targets).
    targets: kind === 'CrossEntropyLoss' && golden.target.shape.length === 1 ? [...golden.target.data] : perSample(golden.target.data, n),
  };
}

/** Whether the case has a recurrent layer, which the Kronecker extensions refuse (test/recurrent.test.ts). */
export function hasRecurrentLayer(golden: GoldenCase): boolean {
  return golden.case.layers.some((layer) => layer.type === 'RNN' || layer.type === 'LSTM');
}

/** Runs a forward pass and `backpack(extensions, backward)`. */
export function runExtensions(
  model: Module,
  loss: LossModule,
  input: Tensor,
  target: Tensor,
  extensions: readonly Extension[],
): void {
  const output = model.forward(input);
  backpack(extensions, () => loss.forward(output, target).backward());
}

/** The stored Kronecker factors of `parameter` under `field` (`kfac`, `kflr`, `kfra`). */
export function factorsOf(parameter: Parameter, field: 'kfac' | 'kflr' | 'kfra'): Tensor[] {
  const factors = parameter[field];
  if (factors === undefined) throw new Error(`no ${field} on the parameter`);
  return factors;
}

/** Compares a tensor with a dense matrix. */
export function compareWithMatrix(actual: Tensor, expected: Matrix, label: string, tolerance = TOLERANCE): CompareReport {
  const data = expected.flat();
  return compareArrays(
    { shape: actual.shape, data: actual.toArray() },
    { shape: [expected.length, expected[0]!.length], data },
    { tolerance, label },
  );
}

/** Compares stored factors with the reference's list (shapes and values). */
export function compareFactorList(actual: readonly Tensor[] | undefined, expected: readonly RefTensor[], label: string, tolerance = TOLERANCE): CompareReport[] {
  return compareQuantity(actual ?? [], expected, { tolerance, label });
}
