import type { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import type { Module } from './module.js';

/** PyTorch's names of the spatial dimensions of `[N, C, ...spatial]`, by spatial rank. */
const SPATIAL_NAMES: Readonly<Record<number, string>> = { 1: 'L', 2: 'H, W', 3: 'D, H, W' };

/** `[N, C, H, W]` for 2 spatial dimensions, and so on. */
export function spatialLayout(spatialDims: number): string {
  return `[N, C, ${SPATIAL_NAMES[spatialDims] ?? '...spatial'}]`;
}

/**
 * Throws unless `x` is a float tensor of shape `[N, C, ...spatial]` with
 * exactly `spatialDims` spatial dimensions: "MaxPool2d expects [N, C, H, W], got ...".
 */
export function expectSpatialInput(module: Module, inputs: readonly Tensor[], spatialDims: number): Tensor {
  if (inputs.length !== 1) {
    throw new RangeError(`${module.describe()}: expects 1 input(s), got ${inputs.length}`);
  }
  const x = inputs[0]!;
  x.assertAlive(module.describe());
  if (x.dtype === 'int32') {
    throw new TypeError(`${module.describe()}: expects a float input, got int32 of shape ${formatShape(x.shape)}`);
  }
  if (x.rank !== spatialDims + 2) {
    throw new RangeError(
      `${module.describe()} expects ${spatialLayout(spatialDims)} (batch first, ${spatialDims + 2} dimensions), got shape ${formatShape(x.shape)}`,
    );
  }
  return x;
}

/**
 * A PyTorch "int or tuple" argument as one number per spatial dimension;
 * throws (naming the module and the argument) unless every entry is an
 * integer >= `min`.
 */
export function expandTuple(
  where: string,
  name: string,
  value: number | readonly number[],
  spatialDims: number,
  min: number,
): number[] {
  const values = typeof value === 'number' ? new Array<number>(spatialDims).fill(value) : [...value];
  if (values.length !== spatialDims || values.some((v) => !Number.isInteger(v) || v < min)) {
    throw new RangeError(
      `${where}: ${name} must be an integer >= ${min} or ${spatialDims} of them, got ${typeof value === 'number' ? value : `[${value.join(', ')}]`}`,
    );
  }
  return values;
}
