/**
 * Derivative rules of matmul (transposes, batches, broadcast batches) and
 * einsum (one, two and three operands, transposed, summed-out and outer
 * letters), against finite differences (first and second derivatives,
 * batched).
 */
import { describe, expect, it } from 'vitest';
import { einsum, matmul, type Tensor } from '../src/index.js';
import { checkOps, type OpCase } from './helpers/gradcheck.js';
import { randomTensor } from './helpers/tensors.js';

describe('matmul', () => {
  const cases: [string, boolean, boolean, number[], number[]][] = [
    ['matrices', false, false, [2, 3], [3, 4]],
    ['transA', true, false, [3, 2], [3, 4]],
    ['transB', false, true, [2, 3], [4, 3]],
    ['transA and transB', true, true, [3, 2], [4, 3]],
    ['batched', false, false, [2, 2, 3], [2, 3, 4]],
    ['a matrix times a batch', false, false, [2, 3], [2, 3, 4]],
    ['a batch times a matrix, transposed', true, true, [2, 3, 2], [4, 3]],
    ['a batch of one times a batch', false, true, [1, 2, 3], [3, 4, 3]],
    ['batch dimensions broadcast both ways', true, false, [2, 1, 3, 2], [3, 3, 4]],
  ];
  checkOps(
    cases.map(([name, transA, transB, shapeA, shapeB], i): OpCase => ({
      name: `${name}: ${JSON.stringify(shapeA)}${transA ? 'ᵀ' : ''} @ ${JSON.stringify(shapeB)}${transB ? 'ᵀ' : ''}`,
      op: (a: Tensor, b: Tensor) => matmul(a, b, transA, transB),
      inputs: [randomTensor(shapeA, 2 * i), randomTensor(shapeB, 2 * i + 1)],
    })),
  );
  checkOps([
    { name: 'a Gram matrix, the same tensor on both sides', op: (x) => matmul(x, x, false, true), inputs: [randomTensor([3, 2], 50)] },
    { name: 'only b differentiated', op: (a, b) => matmul(a, b), inputs: [randomTensor([2, 3], 51), randomTensor([3, 2], 52)], options: { wrt: [1] } },
  ]);
});

describe('einsum', () => {
  const cases: [string, number[][]][] = [
    ['ij,jk->ik', [[2, 3], [3, 4]]],
    ['ij,kj->ki', [[2, 3], [4, 3]]],
    ['bij,bjk->bik', [[2, 2, 3], [2, 3, 2]]],
    ['ni,oi->no', [[3, 4], [2, 4]]],
    ['nvo,ni->voi', [[2, 3, 2], [2, 3]]],
    ['ij->ji', [[2, 3]]],
    ['ij->i', [[2, 3]]],
    ['ij->', [[2, 3]]],
    ['ij->ij', [[2, 3]]],
    ['i,i->', [[4], [4]]],
    ['ij,k->ijk', [[2, 3], [2]]],
    ['ij,jk->i', [[2, 3], [3, 2]]],
    ['ijk,ik->j', [[2, 3, 2], [2, 2]]],
    ['ab,bc,cd->ad', [[2, 3], [3, 2], [2, 2]]],
  ];
  checkOps(
    cases.map(([equation, shapes], i): OpCase => ({
      name: equation,
      op: (...xs: Tensor[]) => einsum(equation, ...xs),
      inputs: shapes.map((shape, j) => randomTensor(shape, 10 * i + j)),
    })),
  );

  it('returns a new tensor for an equation that changes nothing', () => {
    const x = randomTensor([2, 3], 1).requiresGrad_();
    const y = einsum('ij->ij', x);
    expect(y).not.toBe(x);
    expect(x.gradFn).toBeUndefined();
    expect(y.gradFn).toBeDefined();
  });
});
