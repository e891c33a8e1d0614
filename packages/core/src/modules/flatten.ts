import type { GraphNode } from './leaf-module.js';
import { flatten, reshape } from '../ops/layout.js';
import { formatShape, normalizeAxis } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from './input-checks.js';
import { LeafModule, type ModuleTraits } from './leaf-module.js';

/** Merges dimensions `startDim..endDim` into one (defaults 1 and -1: everything but the batch), as `nn.Flatten`. */
export class Flatten extends LeafModule {
  readonly typeName = 'Flatten';
  /** A relabelling of each sample's elements, unless the batch dimension is flattened too. */
  override readonly traits: ModuleTraits;
  constructor(
    /** First dimension merged (negative counts from the end). */
    readonly startDim = 1,
    /** Last dimension merged (negative counts from the end). */
    readonly endDim = -1,
  ) {
    super();
    this.traits = { diagonalJacobian: startDim !== 0 };
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const x = inputs[0]!;
    expectFloatInput(this, x, 1);
    const start = normalizeAxis(this.startDim, x.rank, this.describe());
    const end = normalizeAxis(this.endDim, x.rank, this.describe());
    if (start > end) {
      throw new RangeError(
        `${this.describe()}: startDim ${this.startDim} comes after endDim ${this.endDim} for an input of shape ${formatShape(x.shape)}`,
      );
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return flatten(inputs[0]!, this.startDim, this.endDim);
  }

  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    return reshape(mat, [mat.shape[0]!, ...node.input.shape]);
  }

  override jacMatProd(node: GraphNode, mat: Tensor): Tensor {
    return reshape(mat, [mat.shape[0]!, ...node.output.shape]);
  }

  /** Flattening keeps the row-major order, so the Jacobian is the identity. */
  override eaJacTMatJacProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }
}
