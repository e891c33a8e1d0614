/** A third-party module with a parameter, with and without the trait the first-order fallback reads. */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Generator,
  LeafModule,
  mul,
  sum,
  type GraphNode,
  type ModuleTraits,
  type Parameter,
  type ParameterJacobianOptions,
  type Tensor,
} from '@backpack-ts/core';

/** `y = x ⊙ w` over the last dimension, with per-sample derivatives but without declaring the trait. */
export class PlainScale extends LeafModule {
  readonly typeName: string = 'PlainScale';
  readonly weight: Parameter;
  constructor(features: number, generator: Generator = new Generator(1)) {
    super();
    this.weight = this.registerParameter('weight', generator.uniform([features], { low: 0.5, high: 1.5, backend: cpu, dtype: 'float64' }));
  }
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, this.weight.data);
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight.data);
  }
  override paramJacTMatProd(node: GraphNode, _name: string, mat: Tensor, { sumBatch }: ParameterJacobianOptions): Tensor {
    const perSample = mul(mat, node.input);
    return sumBatch ? sum(perSample, 1) : perSample;
  }
}

/** {@link PlainScale} declaring per-sample parameter Jacobians: all four extensions work with nothing set. */
export class Scale extends PlainScale {
  override readonly typeName = 'Scale';
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true };
}
