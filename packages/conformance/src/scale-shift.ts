/**
 * A module with parameters written as a third party writes one, for tests of
 * how extensions find their rules (and as the walkthrough of "Adding a
 * module" in docs/ARCHITECTURE.md): `y = x ⊙ scale + shift` over the last
 * dimension, with learned vectors `scale` and `shift`.
 */
import {
  LeafModule,
  add,
  defaultGenerator,
  mul,
  reshape,
  sum,
  type Backend,
  type FloatDType,
  type GraphNode,
  type ModuleTraits,
  type Parameter,
  type ParameterJacobianOptions,
  type Tensor,
  type Generator,
} from '@backpack-ts/core';

/** Options of {@link PlainScaleShift} and {@link ScaleShift}. */
export interface ScaleShiftOptions {
  /** Backend of the parameters (default: the default backend). */
  readonly backend?: Backend;
  /** Dtype of the parameters (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
  /** Draws `scale` uniformly in [0.5, 1.5) and `shift` in [-0.5, 0.5) (default: core's default generator). */
  readonly generator?: Generator;
}

/**
 * `y = x ⊙ scale + shift` over the last dimension of `[N, ..., features]`.
 * It declares no traits, so an extension needs a rule set for it
 * (`setModuleRule`); {@link ScaleShift} declares them.
 */
export class PlainScaleShift extends LeafModule {
  readonly typeName: string = 'PlainScaleShift';
  /** `[features]`. */
  readonly scale: Parameter;
  /** `[features]`. */
  readonly shift: Parameter;

  constructor(
    /** Size of the last dimension. */
    readonly features: number,
    options: ScaleShiftOptions = {},
  ) {
    super();
    const generator = options.generator ?? defaultGenerator;
    const create = { backend: options.backend, dtype: options.dtype };
    this.scale = this.registerParameter('scale', generator.uniform([features], { ...create, low: 0.5, high: 1.5 }));
    this.shift = this.registerParameter('shift', generator.uniform([features], { ...create, low: -0.5, high: 0.5 }));
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    const x = inputs[0];
    if (inputs.length !== 1 || x === undefined || x.rank < 2 || x.shape[x.rank - 1] !== this.features) {
      throw new RangeError(`${this.describe()}: expects one input [N, ..., ${this.features}]`);
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return add(mul(inputs[0]!, this.scale.data), this.shift.data);
  }

  /** `diag(scale)` for every sample. */
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.scale.data);
  }

  /** `∂y/∂scale = diag(x_n)`, `∂y/∂shift = I`, summed over the dimensions before the features (and the batch). */
  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (name !== 'scale' && name !== 'shift') return super.paramJacTMatProd(node, name, mat, options);
    const [v, n] = [mat.shape[0]!, mat.shape[1]!];
    const perPosition = reshape(name === 'scale' ? mul(mat, node.input) : mat, [v, n, -1, this.features]);
    return sum(perPosition, options.sumBatch ? [1, 2] : [2]);
  }
}

/** {@link PlainScaleShift} declaring what it is: every extension's fallback rule then fits it. */
export class ScaleShift extends PlainScaleShift {
  override readonly typeName = 'ScaleShift';
  override readonly traits: ModuleTraits = {
    perSampleParameterJacobian: true,
    affineInParameters: true,
    diagonalJacobian: true,
  };
}
