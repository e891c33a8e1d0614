import type { Tensor } from '../tensor/tensor.js';
import { formatShape } from '../tensor/shape.js';
import type { Module } from './module.js';

/** Throws unless exactly `count` inputs were passed. */
export function expectInputCount(module: Module, inputs: readonly Tensor[], count: number): void {
  if (inputs.length !== count) {
    throw new RangeError(`${module.describe()}: expects ${count} input(s), got ${inputs.length}`);
  }
}

/** Throws unless the input is a float tensor with at least `minRank` dimensions (batch first). */
export function expectFloatInput(module: Module, input: Tensor, minRank: number): void {
  input.assertAlive(module.describe());
  if (input.dtype === 'int32') {
    throw new TypeError(`${module.describe()}: expects a float input, got int32 of shape ${formatShape(input.shape)}`);
  }
  if (input.rank < minRank) {
    throw new RangeError(
      `${module.describe()}: expects an input of rank >= ${minRank} (batch first), got shape ${formatShape(input.shape)}`,
    );
  }
}
