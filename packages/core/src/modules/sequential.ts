import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** Applies its children in order; they are named `"0"`, `"1"`, ... as in PyTorch. */
export class Sequential extends Module {
  readonly typeName = 'Sequential';
  /** The children, in the order they are applied. */
  readonly layers: readonly Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((layer, i) => this.registerModule(String(i), layer));
  }

  forward(input: Tensor): Tensor {
    return this.layers.reduce((x, layer) => layer.forward(x), input);
  }
}
