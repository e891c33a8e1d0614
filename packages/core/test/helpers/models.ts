/** Small models shared by the backward and error tests. */
import { cpu } from '@backpack-ts/backend-cpu';
import { Generator, Linear, type Parameter, type Tensor } from '@backpack-ts/core';

/** A float64 Linear on cpu with reproducible initial values. */
export function linear(inFeatures: number, outFeatures: number, seed: number, bias = true): Linear {
  return new Linear(inFeatures, outFeatures, { bias, backend: cpu, generator: new Generator(seed) });
}

/** What a parameter holds at one moment: the tensor objects and their values. */
export interface ParameterSnapshot {
  readonly parameter: Parameter;
  readonly data: Tensor;
  readonly grad: Tensor | undefined;
  readonly dataValues: number[];
  readonly gradValues: number[] | undefined;
}

export function snapshot(parameters: readonly Parameter[]): ParameterSnapshot[] {
  return parameters.map((parameter) => ({
    parameter,
    data: parameter.data,
    grad: parameter.grad,
    dataValues: Array.from(parameter.data.toArray()),
    gradValues: parameter.grad === undefined ? undefined : Array.from(parameter.grad.toArray()),
  }));
}
