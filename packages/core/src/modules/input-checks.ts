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

/**
 * Throws unless every input lives on the backend of the module's parameters,
 * and every float input has their dtype: an error naming the module, the
 * input, the parameter and both dtypes and backends, before any op fails on
 * the mix.
 */
export function expectParametersMatch(module: Module, inputs: readonly Tensor[]): void {
  const parameters = module.ownNamedParameters();
  inputs.forEach((x, i) => {
    for (const [name, { data }] of parameters) {
      const sameBackend = x.backend === data.backend;
      if (sameBackend && (x.dtype === 'int32' || x.dtype === data.dtype)) continue;
      const input = inputs.length === 1 ? 'the input' : `input ${i}`;
      const advice = sameBackend
        ? `cast the input (cast(x, '${data.dtype}')) or create the module with { dtype: '${x.dtype}' }`
        : 'inputs and parameters must live on one backend';
      throw new TypeError(
        `${module.describe()}: ${input} is ${x.dtype} on '${x.backend.name}', but parameter '${name}' is ${data.dtype} on '${data.backend.name}'; ${advice}`,
      );
    }
  });
}
