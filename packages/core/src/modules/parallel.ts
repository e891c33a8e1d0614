import type { Tensor } from '../tensor/tensor.js';
import { SumModule } from './add.js';
import { Module } from './module.js';
import { ModuleList } from './module-list.js';

/**
 * Feeds its input to every branch and sums their outputs (BackPACK's
 * `branching.Parallel`): `Σ_b branch_b(x)`. A branch is any module, e.g. a
 * `Sequential` for a chain of layers or `Identity` for a skip connection.
 * The branches are held in `branch` and the sum is the {@link SumModule}
 * `merge`, so parameters are named as in BackPACK: `branch.<b>.<name>`, and
 * `branch.<b>.<j>.<name>` inside a `Sequential` branch.
 */
export class Parallel extends Module {
  readonly typeName = 'Parallel';
  /** The branches, named `0`, `1`, ... */
  readonly branch: ModuleList;
  /** The sum of the branches' outputs. */
  readonly merge: SumModule;

  constructor(...branches: Module[]) {
    super();
    if (branches.length < 2) throw new RangeError(`Parallel: needs at least 2 branches, got ${branches.length}`);
    this.branch = this.registerModule('branch', new ModuleList(...branches));
    this.merge = this.registerModule('merge', new SumModule());
  }

  forward(input: Tensor): Tensor {
    return this.merge.forward(...this.branch.modules.map((b) => b.forward(input)));
  }
}
