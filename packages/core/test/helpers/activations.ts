/** Every activation in core, with its definition as a plain JavaScript function. */
import { ELU, LeakyReLU, LogSigmoid, ReLU, SELU, Sigmoid, Tanh, type ElementwiseModule } from '@backpack-ts/core';

/** PyTorch's SELU constants. */
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

export interface ActivationCase {
  readonly name: string;
  readonly make: () => ElementwiseModule;
  /** The definition, for one number. */
  readonly f: (x: number) => number;
}

export const activations: readonly ActivationCase[] = [
  { name: 'ReLU', make: () => new ReLU(), f: (x) => Math.max(x, 0) },
  { name: 'Sigmoid', make: () => new Sigmoid(), f: (x) => 1 / (1 + Math.exp(-x)) },
  { name: 'Tanh', make: () => new Tanh(), f: Math.tanh },
  { name: 'LeakyReLU()', make: () => new LeakyReLU(), f: (x) => (x > 0 ? x : 0.01 * x) },
  { name: 'LeakyReLU(0.1)', make: () => new LeakyReLU(0.1), f: (x) => (x > 0 ? x : 0.1 * x) },
  { name: 'ELU(1.3)', make: () => new ELU(1.3), f: (x) => (x > 0 ? x : 1.3 * Math.expm1(x)) },
  { name: 'SELU', make: () => new SELU(), f: (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)) },
  { name: 'LogSigmoid', make: () => new LogSigmoid(), f: (x) => -Math.log1p(Math.exp(-x)) },
];
