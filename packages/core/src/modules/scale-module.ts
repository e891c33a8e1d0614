import type { GraphNode } from './leaf-module.js';
import { mul } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { LeafModule, type ModuleTraits } from './leaf-module.js';

/**
 * Multiplies its input by a fixed number, `weight · x` (BackPACK's
 * `ScaleModule`; the weight is a constant, not a parameter). Linear in its
 * input, with Jacobian `weight · I` for every sample.
 */
export class ScaleModule extends LeafModule {
  readonly typeName = 'ScaleModule';
  override readonly traits: ModuleTraits = { diagonalJacobian: true };

  /** @param weight The constant factor (a number, not a parameter). */
  constructor(readonly weight: number) {
    super();
    if (typeof weight !== 'number' || !Number.isFinite(weight)) {
      throw new RangeError(`ScaleModule: weight must be a finite number, got ${String(weight)}`);
    }
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    expectFloatInput(this, inputs[0]!, 1);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, this.weight);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight);
  }

  override jacMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight);
  }

  /** `weight² M`. */
  override eaJacTMatJacProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight * this.weight);
  }
}
