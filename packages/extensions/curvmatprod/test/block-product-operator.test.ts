/**
 * BlockProductOperator: a parameter's HMP / GGNMP block as a LinearOperator,
 * against that block of the dense Hessian (double backward, row by row) and
 * of the dense GGN (Jacobian rows and the loss Hessian written out).
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import { CrossEntropyLoss, Generator, Linear, Sequential, Sigmoid, backpack, extend, tensor } from '@backpack-ts/core';
import { BlockProductOperator, GGNMP, HMP, blockProductOperator, conjugateGradient } from '../src/index.js';
import { expectMatrixClose, hessianByRows, jacobianByRows, matMul, matVec, toMatrix, transposeMatrix } from './helpers/dense.js';
import { lossHessian } from './helpers/loss-hessian.js';

const float64 = { backend: cpu, dtype: 'float64' as const };

function problem() {
  const generator = new Generator(3);
  const model = extend(new Sequential(new Linear(3, 4, { ...float64, generator }), new Sigmoid(), new Linear(4, 3, { ...float64, generator })));
  const lossFunction = extend(new CrossEntropyLoss());
  const input = generator.normal([5, 3], float64);
  const labels = tensor([0, 2, 1, 0, 2], [5], { backend: cpu, dtype: 'int32' });
  const loss = lossFunction.forward(model.forward(input), labels);
  backpack([new HMP(), new GGNMP()], () => loss.backward());
  return { model, lossFunction, input, labels, generator };
}

describe('BlockProductOperator', () => {
  it("multiplies by each parameter's block of the Hessian and of the GGN, for a batch of vectors and for one", () => {
    const { model, lossFunction, input, labels, generator } = problem();
    for (const parameter of model.parameters()) {
      const hessian = hessianByRows(() => lossFunction.forward(model.forward(input), labels), [parameter]);
      const jacobian = jacobianByRows(() => model.forward(input), [parameter]);
      const ggn = matMul(transposeMatrix(jacobian), matMul(lossHessian(lossFunction, model.forward(input)), jacobian));
      const size = parameter.data.size;
      const x = generator.normal([size, 2], float64);
      for (const [operator, dense] of [
        [new BlockProductOperator(parameter.hmp!, parameter.data), hessian],
        [blockProductOperator(parameter.ggnmp!, parameter.data), ggn],
      ] as const) {
        expect(operator.shape).toEqual([size, size]);
        expectMatrixClose(toMatrix(operator.matmat(x)), matMul(dense, toMatrix(x)), 1e-10);
        const v = generator.normal([size], float64);
        const product = operator.matmat(v);
        expect(product.shape).toEqual([size]);
        expectMatrixClose(Array.from(product.toArray()), matVec(dense, Array.from(v.toArray())), 1e-10);
      }
    }
  });

  it('runs conjugate gradients on a block: the solution satisfies the damped system', () => {
    const { model, lossFunction, input } = problem();
    const weight = model.parameters()[2]!;
    const jacobian = jacobianByRows(() => model.forward(input), [weight]);
    const ggn = matMul(transposeMatrix(jacobian), matMul(lossHessian(lossFunction, model.forward(input)), jacobian));
    const b = Array.from({ length: weight.data.size }, (_, i) => Math.sin(i + 1));
    const { solution } = conjugateGradient(blockProductOperator(weight.ggnmp!, weight.data), tensor(b, [b.length], float64), { damping: 0.1, tolerance: 1e-12 });
    const x = Array.from(solution.toArray());
    expectMatrixClose(matVec(ggn, x).map((value, i) => value + 0.1 * x[i]!), b, 1e-10);
  });

  it('refuses vectors of the wrong size, naming both shapes, or dtype, and a missing product', () => {
    const { model } = problem();
    const bias = model.parameters()[1]!;
    const operator = blockProductOperator(bias.hmp!, bias.data);
    expect(() => operator.matmat(tensor([1, 2, 3], [3], float64))).toThrow('BlockProductOperator.matmat: x must be [4, K] or [4] for a parameter of shape [4], got shape [3]');
    expect(() => operator.matmat(tensor([1, 2, 3, 4], [4], { ...float64, dtype: 'float32' }))).toThrow(
      "BlockProductOperator.matmat: x is float32 on 'cpu', the parameter float64 on 'cpu'",
    );
    expect(() => blockProductOperator(bias.pchmp!, bias.data)).toThrow('BlockProductOperator: no product function given');
  });
});
