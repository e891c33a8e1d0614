/**
 * The Hessian-free products against dense matrices built in the test:
 *
 * - the Hessian row by row, each row the gradient of one gradient entry
 *   (exact, 1e-10), itself checked against central differences of gradients
 *   with one Richardson step (1e-7: truncation O(h⁴), rounding ~ε/h);
 * - the Jacobian of the model output row by row, each row one backward pass
 *   of one output entry, and the loss Hessian written out by hand, for the
 *   GGN `Jᵀ H J` and the R- and L-operators;
 * - DiagHessian and DiagGGNExact on unit vectors.
 */
import { describe, expect, it } from 'vitest';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { Generator, backpack, grad, tensor, type Parameter, type Tensor } from '@backpack-ts/core';
import {
  ggnVectorProduct,
  ggnVectorProductFromParameters,
  hessianVectorProduct,
  jacobianVectorProduct,
  transposedJacobianVectorProduct,
} from '@backpack-ts/curvmatprod';
import {
  expectMatrixClose,
  finiteDifferenceJacobian,
  flatValues,
  hessianByRows,
  jacobianByRows,
  matMul,
  matVec,
  transposeMatrix,
  unitVectors,
  type Matrix,
} from './helpers/dense.js';
import { lossHessian } from './helpers/loss-hessian.js';
import { float64, problems, trainable, type Problem } from './helpers/problems.js';

const EXACT = 1e-10;
const FINITE_DIFFERENCES = 1e-7;

function randomVectors(tensors: readonly { shape: readonly number[] }[], seed: number): Tensor[] {
  const generator = new Generator(seed);
  return tensors.map((t) => generator.normal(t.shape, float64));
}

/** Forward pass on the first batch. */
function forward(problem: Problem) {
  const [input, target] = problem.data[0]!;
  const output = problem.model.forward(input);
  return { output, loss: problem.lossFunction.forward(output, target) };
}

/** The block of `matrix` with the rows and columns of the chosen parameters. */
function block(matrix: Matrix, parameters: readonly Parameter[], chosen: readonly Parameter[]): Matrix {
  const offsets = new Map<Parameter, number>();
  let offset = 0;
  for (const p of parameters) {
    offsets.set(p, offset);
    offset += p.data.size;
  }
  const indices = chosen.flatMap((p) => Array.from({ length: p.data.size }, (_, i) => offsets.get(p)! + i));
  return indices.map((i) => indices.map((j) => matrix[i]![j]!));
}

describe.each(problems())('$name', (problem) => {
  const parameters = trainable(problem);
  const hessian = () => hessianByRows(() => forward(problem).loss, parameters);

  it('the reference Hessian (rows by double backward) equals central differences of gradients', () => {
    const byDifferences = finiteDifferenceJacobian(
      parameters,
      () => flatValues(grad(forward(problem).loss, parameters.map((p) => p.data)) as Tensor[]),
      1e-4,
    );
    expectMatrixClose(hessian(), byDifferences, FINITE_DIFFERENCES);
  });

  it('the reference Jacobian (rows by backward passes) equals central differences of the output', () => {
    const byDifferences = finiteDifferenceJacobian(parameters, () => flatValues([forward(problem).output]), 1e-4);
    expectMatrixClose(jacobianByRows(() => forward(problem).output, parameters), byDifferences, FINITE_DIFFERENCES);
  });

  it('hessianVectorProduct: all parameters, and a chosen block', () => {
    const dense = hessian();
    const vectors = randomVectors(parameters.map((p) => p.data), 1);
    const { loss } = forward(problem);
    expectMatrixClose(flatValues(hessianVectorProduct(loss, parameters, vectors)), matVec(dense, flatValues(vectors)), EXACT);
    // Again on the same graph (it is kept), over two parameters in reverse order.
    const chosen = [parameters[2]!, parameters[0]!];
    const chosenVectors = randomVectors(chosen.map((p) => p.data), 2);
    expectMatrixClose(
      flatValues(hessianVectorProduct(loss, chosen, chosenVectors)),
      matVec(block(dense, parameters, chosen), flatValues(chosenVectors)),
      EXACT,
    );
  });

  it('jacobianVectorProduct (R-op) and transposedJacobianVectorProduct (L-op)', () => {
    const jacobian = jacobianByRows(() => forward(problem).output, parameters);
    const { output } = forward(problem);
    const v = randomVectors(parameters.map((p) => p.data), 3);
    const [jv] = jacobianVectorProduct([output], parameters, v);
    expect(jv!.shape).toEqual(output.shape);
    expectMatrixClose(flatValues([jv!]), matVec(jacobian, flatValues(v)), EXACT);
    const [w] = randomVectors([output], 4);
    expectMatrixClose(flatValues(transposedJacobianVectorProduct([output], parameters, [w!])), matVec(transposeMatrix(jacobian), flatValues([w!])), EXACT);
  });

  it('ggnVectorProduct and ggnVectorProductFromParameters equal Jᵀ H J v', () => {
    const jacobian = jacobianByRows(() => forward(problem).output, parameters);
    const { output, loss } = forward(problem);
    const ggn = matMul(transposeMatrix(jacobian), matMul(lossHessian(problem.lossFunction, output), jacobian));
    const v = randomVectors(parameters.map((p) => p.data), 5);
    expectMatrixClose(flatValues(ggnVectorProduct(loss, output, problem.model, v)), matVec(ggn, flatValues(v)), EXACT);
    const chosen = [parameters[parameters.length - 1]!, parameters[1]!];
    const chosenVectors = randomVectors(chosen.map((p) => p.data), 6);
    expectMatrixClose(
      flatValues(ggnVectorProductFromParameters(loss, output, chosen, chosenVectors)),
      matVec(block(ggn, parameters, chosen), flatValues(chosenVectors)),
      EXACT,
    );
  });

  it('on unit vectors: the diagonal of DiagHessian and of DiagGGNExact', () => {
    const { output, loss } = forward(problem);
    const size = parameters.reduce((s, p) => s + p.data.size, 0);
    const hessianDiagonal: number[] = [];
    const ggnDiagonal: number[] = [];
    for (let i = 0; i < size; i++) {
      const unit = unitVectors(parameters, i);
      hessianDiagonal.push(flatValues(hessianVectorProduct(loss, parameters, unit))[i]!);
      ggnDiagonal.push(flatValues(ggnVectorProduct(loss, output, problem.model, unit))[i]!);
    }
    backpack([new DiagHessian(), new DiagGGNExact()], () => loss.backward());
    expectMatrixClose(hessianDiagonal, flatValues(parameters.map((p) => p.diagH!)), EXACT);
    expectMatrixClose(ggnDiagonal, flatValues(parameters.map((p) => p.diagGgnExact!)), EXACT);
  });
});

describe('errors', () => {
  const problem = problems()[0]!;
  const parameters = trainable(problem);
  const { output, loss } = forward(problem);
  const right = parameters.map((p) => p.data);

  it('a vector shaped unlike its parameter, naming both shapes', () => {
    const wrong = [...right];
    wrong[1] = tensor([1, 2, 3], [3], float64);
    expect(() => hessianVectorProduct(loss, parameters, wrong)).toThrow(/hessianVectorProduct: vector 1 has shape \[3\], but input 1 has shape \[2\]/);
    expect(() => ggnVectorProductFromParameters(loss, output, parameters, wrong)).toThrow(/ggnVectorProductFromParameters: vector 1 has shape \[3\]/);
    expect(() => jacobianVectorProduct([output], parameters, wrong)).toThrow(/jacobianVectorProduct: vector 1/);
  });

  it('a loss that is not a scalar, an output that was not recorded', () => {
    expect(() => hessianVectorProduct(output, parameters, right)).toThrow(
      "hessianVectorProduct: loss must be a scalar (one element), got shape [3, 3]; use a loss with reduction 'mean' or 'sum'",
    );
    expect(() => ggnVectorProduct(output, output, problem.model, right)).toThrow(/^ggnVectorProductFromParameters: loss must be a scalar \(one element\), got shape \[3, 3\]/);
    expect(() => ggnVectorProduct(loss, problem.data[0]![0], problem.model, right)).toThrow(
      "ggnVectorProductFromParameters: output (shape [3, 1, 4, 4]) was not recorded as depending on the inputs; pass the model's output, computed from them",
    );
  });

  it('a wrong number of vectors', () => {
    expect(() => ggnVectorProduct(loss, output, problem.model, right.slice(1))).toThrow(/got 7 vectors for 8 inputs/);
    expect(() => transposedJacobianVectorProduct([output], parameters, [])).toThrow(/transposedJacobianVectorProduct: got 0 vectors for 1 outputs/);
  });
});
