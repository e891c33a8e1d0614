/**
 * The residual terms of the Hessian as products (`residualHessianMatProd`,
 * `paramResidualHessianMatProd`): `Σ_k g_k ∇²y_k` times a batch of
 * matrices, against the dense Hessian of `<g, y>` built column by column by
 * double backward.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Conv2d,
  ELU,
  Generator,
  LSTM,
  LeafModule,
  RNN,
  Sigmoid,
  Tanh,
  add,
  extend,
  grad,
  mul,
  sum,
  type GraphNode,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { linear } from './helpers/models.js';
import { randomTensor, t } from './helpers/tensors.js';

const RTOL = 1e-10;
const V = 2;
const g = (seed: number) => ({ backend: cpu, generator: new Generator(seed) });

/** `∂²f/∂x²`, column by column by double backward. */
function denseHessian(f: () => Tensor, x: Tensor): number[][] {
  // `+ 0·x` keeps x in the gradient's graph when f is affine in it (the second derivative is then 0).
  const gradient = add(grad(f(), [x], { createGraph: true })[0]!, mul(x, 0));
  return Array.from({ length: x.size }, (_, j) => {
    const unit = new Float64Array(x.size);
    unit[j] = 1;
    const [column] = grad(gradient, [x], { gradOutputs: [t(unit, x.shape)], retainGraph: true });
    return Array.from(column!.toArray());
  });
}

/** `H m_v` for each row of `mat` `[V, ...]` (H symmetric, given by columns). */
function times(hessian: number[][], mat: Tensor): number[] {
  const m = Array.from(mat.toArray());
  const size = hessian.length;
  return Array.from({ length: m.length }, (_, index) => {
    const [v, i] = [Math.floor(index / size), index % size];
    return hessian.reduce((total, column, j) => total + column[i]! * m[v * size + j]!, 0);
  });
}

const cases: { name: string; module: () => LeafModule; input: () => Tensor }[] = [
  { name: 'Sigmoid', module: () => new Sigmoid(), input: () => randomTensor([3, 4], 1) },
  { name: 'Tanh', module: () => new Tanh(), input: () => randomTensor([3, 4], 1) },
  { name: 'ELU', module: () => new ELU(0.7), input: () => randomTensor([3, 4], 1, { minAbs: 0.05 }) },
  { name: 'Linear', module: () => linear(3, 2, 1), input: () => randomTensor([4, 3], 1) },
  { name: 'Conv2d', module: () => new Conv2d(1, 2, 2, g(2)), input: () => randomTensor([2, 1, 3, 3], 1) },
  { name: 'RNN (tanh, 2 layers, batch-first)', module: () => new RNN(2, 3, { numLayers: 2, batchFirst: true, ...g(3) }), input: () => randomTensor([2, 3, 2], 1) },
  { name: 'LSTM', module: () => new LSTM(2, 2, g(4)), input: () => randomTensor([3, 2, 2], 1) },
];

describe.each(cases)('$name', ({ module: make, input }) => {
  it('residualHessianMatProd and paramResidualHessianMatProd are the Hessian of <g, y> times the matrices', () => {
    const module = extend(make());
    const x = input().requiresGrad_();
    const output = module.forward(x);
    const node = output.producer as GraphNode;
    const gradOutput = randomTensor(output.shape, 5);
    const pairing = () => sum(mul(gradOutput, module.forward(x)));

    const mat = randomTensor([V, ...x.shape], 6);
    const hessian = denseHessian(pairing, x);
    const product = module.residualHessianMatProd(node, gradOutput, mat, 0);
    if (product === undefined) expect(hessian.flat().every((h) => h === 0)).toBe(true);
    else expectClose(product, times(hessian, mat), RTOL, mat.shape);

    for (const [name, parameter] of module.ownTrainableParameters()) {
      const directions = randomTensor([V, ...parameter.data.shape], 7);
      const expected = denseHessian(pairing, parameter.data);
      const result = module.paramResidualHessianMatProd(node, gradOutput, name, directions);
      if (result === undefined) expect(expected.flat().every((h) => h === 0)).toBe(true);
      else expectClose(result, times(expected, directions), RTOL, directions.shape);
    }
  });
});

/** A module with a parameter it is not declared affine in. */
class Undeclared extends LeafModule {
  readonly typeName = 'Undeclared';
  readonly weight = this.registerParameter('weight', randomTensor([3], 1));
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, mul(this.weight.data, this.weight.data));
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, mul(this.weight.data, this.weight.data));
  }
}

describe('paramResidualHessianMatProd', () => {
  it('refuses, naming the module and the parameter, when the module declares no affineInParameters and does not override it', () => {
    const module = new Undeclared();
    const output = module.forward(randomTensor([2, 3], 2));
    expect(() => module.paramResidualHessianMatProd(output.producer!, randomTensor([2, 3], 3), 'weight', randomTensor([1, 3], 4))).toThrow(
      /^Undeclared gives no second derivative w.r.t. its parameter 'weight': declare the trait affineInParameters if the output is affine in it, or override paramResidualHessianMatProd/,
    );
  });
});
