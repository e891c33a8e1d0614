import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/**
 * Holds modules under the names `"0"`, `"1"`, ... (as PyTorch's
 * `nn.ModuleList`) so that their parameters are named by position; it has
 * no forward pass of its own: its owner calls the modules.
 */
export class ModuleList extends Module {
  readonly typeName = 'ModuleList';
  /** The modules, in order. */
  readonly modules: readonly Module[];

  constructor(...modules: Module[]) {
    super();
    this.modules = modules.map((module, i) => this.registerModule(String(i), module));
  }

  forward(): Tensor {
    throw new Error(`${this.describe()} has no forward pass; call the modules it holds (its owner does)`);
  }
}
