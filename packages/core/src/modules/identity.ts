import type { GraphNode } from './leaf-module.js';
import { reshape } from '../ops/layout.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectInputCount } from './input-checks.js';
import { LeafModule, type ModuleTraits } from './leaf-module.js';

/** Returns its input unchanged (a placeholder, as `nn.Identity`). */
export class Identity extends LeafModule {
  readonly typeName: string = 'Identity';
  override readonly traits: ModuleTraits = { diagonalJacobian: true };

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    // A new tensor object, so the recorded node's output is distinct from its input.
    return reshape(inputs[0]!, inputs[0]!.shape);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }

  override jacMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }

  /** The Jacobian is the identity. */
  override eaJacTMatJacProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }
}
