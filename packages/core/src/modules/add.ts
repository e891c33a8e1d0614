import type { GraphNode } from './leaf-module.js';
import { add } from '../ops/elementwise.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { LeafModule, type ModuleTraits } from './leaf-module.js';

/**
 * Sums two or more inputs of equal shape: how branches merge, e.g. a residual
 * block `add.forward(x, f.forward(x))`.
 */
export class Add extends LeafModule {
  readonly typeName: string = 'Add';
  override readonly traits: ModuleTraits = { diagonalJacobian: true };

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length < 2) throw new RangeError(`${this.describe()}: expects at least 2 inputs, got ${inputs.length}`);
    const first = inputs[0]!;
    for (const x of inputs) {
      if (!shapesEqual(x.shape, first.shape)) {
        throw new RangeError(`${this.describe()}: inputs must have equal shapes, got ${formatShape(first.shape)} and ${formatShape(x.shape)}`);
      }
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return inputs.slice(1).reduce((total, x) => add(total, x), inputs[0]!);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }

  /** The Jacobian w.r.t. each input is the identity. */
  override jacMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }

  /** The Jacobian is the identity. */
  override eaJacTMatJacProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }
}

/**
 * BackPACK's name for {@link Add} (`backpack.custom_module.branching.SumModule`):
 * the sum of its inputs, the merge step of {@link Parallel}. Rules set for
 * `Add` serve it too.
 */
export class SumModule extends Add {
  override readonly typeName = 'SumModule';
}
