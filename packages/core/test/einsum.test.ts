/** einsum against brute-force loops over every index assignment. */
import { describe, expect, it } from 'vitest';
import { einsum, sizeOf, type Shape, type Tensor } from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { indices, offsetOf, randomTensor, values } from './helpers/tensors.js';

/** The definition of einsum: sum over all letters of the product of the operands' entries. */
function einsumByLoops(equation: string, operands: readonly Tensor[]): { data: number[]; shape: number[] } {
  const [left, output] = equation.replace(/\s+/g, '').split('->') as [string, string];
  const inputs = left.split(',');
  const sizes = new Map<string, number>();
  inputs.forEach((letters, k) => [...letters].forEach((c, d) => sizes.set(c, operands[k]!.shape[d]!)));
  const letters = [...sizes.keys()];
  const shape = [...output].map((c) => sizes.get(c)!);
  const data = new Array<number>(sizeOf(shape)).fill(0);
  const operandData = operands.map(values);
  for (const assignment of indices(letters.map((c) => sizes.get(c)!))) {
    const at = (word: string) => [...word].map((c) => assignment[letters.indexOf(c)]!);
    const product = inputs.reduce((p, word, k) => p * operandData[k]![offsetOf(at(word), operands[k]!.shape)]!, 1);
    data[offsetOf(at(output), shape)]! += product;
  }
  return { data, shape };
}

const cases: [equation: string, shapes: Shape[]][] = [
  ['ij,jk->ik', [[2, 3], [3, 4]]],
  ['ij,jk->ki', [[2, 3], [3, 4]]],
  ['ij,kj->ik', [[2, 3], [4, 3]]],
  ['ji,jk->ik', [[3, 2], [3, 4]]],
  ['ji,kj->ki', [[3, 2], [4, 3]]],
  ['ij,j->i', [[2, 3], [3]]],
  ['i,i->', [[5], [5]]],
  ['ij,k->ijk', [[2, 3], [4]]],
  ['no,ni->noi', [[3, 2], [3, 4]]],
  ['bij,bjk->bik', [[2, 3, 4], [2, 4, 5]]],
  ['bij,bjk->kbi', [[2, 3, 4], [2, 4, 5]]],
  ['vnso,nsi->voi', [[2, 3, 4, 5], [3, 4, 2]]],
  ['vnso,nsi->vnoi', [[2, 3, 4, 5], [3, 4, 2]]],
  ['vnso,nsi->iov', [[2, 3, 4, 5], [3, 4, 2]]],
  ['ij->ji', [[2, 3]]],
  ['ijk->kij', [[2, 3, 4]]],
  ['ij->i', [[2, 3]]],
  ['ijk->j', [[2, 3, 4]]],
  ['ij->', [[2, 3]]],
  ['ij->ij', [[2, 3]]],
  // Letters in one operand only, dropped by the output: summed before the product.
  ['ij,jk->i', [[2, 3], [3, 4]]],
  ['ijx,jk->ik', [[2, 3, 2], [3, 4]]],
  ['ij,kl->ik', [[2, 3], [4, 5]]],
  ['ij,kl->', [[2, 3], [4, 5]]],
  // Three operands.
  ['ab,bc,cd->ad', [[2, 3], [3, 4], [4, 2]]],
  ['ab,bc,ca->', [[2, 3], [3, 4], [4, 2]]],
  ['ia,ib,ic->abc', [[4, 2], [4, 3], [4, 2]]],
  ['ab,cd,bd->ca', [[2, 3], [4, 5], [3, 5]]],
  ['na,nb,nc->n', [[3, 2], [3, 4], [3, 2]]],
  // Size-1 dimensions.
  ['ij,jk->ik', [[1, 3], [3, 1]]],
  ['nij,njk->nik', [[1, 2, 3], [1, 3, 2]]],
  ['ij,jk->ik', [[2, 1], [1, 3]]],
  ['no,ni->noi', [[1, 1], [1, 1]]],
  // Only size-1 dimensions out of place (a reshape, or a transposed operand, instead of a permute), and an output laid out as B·A.
  ['vnso,nsi->voi', [[1, 3, 1, 5], [3, 1, 2]]],
  ['voi,nsi->vnso', [[1, 5, 2], [3, 1, 2]]],
  ['ij,jk->ki', [[1, 3], [3, 4]]],
  ['ijk->kij', [[2, 1, 1]]],
  ['bij,bjk->bki', [[2, 3, 4], [2, 4, 5]]],
  // Size-0 dimensions: empty sums are 0, empty outputs have no entries.
  ['ij,jk->ik', [[2, 0], [0, 3]]],
  ['ij,jk->ik', [[0, 3], [3, 2]]],
  ['ij->i', [[3, 0]]],
  ['bij,bjk->bik', [[0, 2, 3], [0, 3, 2]]],
  // Scalars, spaces and capital letters.
  [',i->i', [[], [3]]],
  ['ij, jk -> ik', [[2, 3], [3, 4]]],
  ['Ab,bC->CA', [[2, 3], [3, 4]]],
];

describe('einsum matches brute-force loops', () => {
  it.each(cases)("'%s' with shapes %j", (equation, shapes) => {
    const operands = shapes.map((shape, k) => randomTensor(shape, 10 + k));
    const expected = einsumByLoops(equation, operands);
    expectClose(einsum(equation, ...operands), expected.data, 1e-12, expected.shape);
  });
});

describe('einsum rejects malformed equations', () => {
  const [a, b] = [randomTensor([2, 3], 1), randomTensor([3, 4], 2)];

  it.each([
    ['ij,jk', /not of the form/],
    ['ij,jk->ik->ik', /not of the form/],
    ['...ij,jk->ik', /not of the form/],
    ['i1,1k->ik', /not of the form/],
  ])("'%s' is not of the form 'ab,bc->ac'", (equation, message) => {
    expect(() => einsum(equation, a, b)).toThrow(SyntaxError);
    expect(() => einsum(equation, a, b)).toThrow(message);
  });

  it('a letter repeated within an operand or the output', () => {
    expect(() => einsum('ii->i', randomTensor([3, 3], 1))).toThrow(/a letter repeats within 'ii'/);
    expect(() => einsum('ij,jk->iki', a, b)).toThrow(/a letter repeats within 'iki'/);
  });

  it('the wrong number of operands', () => {
    expect(() => einsum('ij,jk->ik', a)).toThrow(/names 2 operands, got 1/);
    expect(() => einsum('ij->ij', a, b)).toThrow(/names 1 operands, got 2/);
  });

  it('an operand whose rank does not match its letters', () => {
    expect(() => einsum('ijk,jk->i', a, b)).toThrow(/operand 0 has shape \[2, 3\] but 'ijk' names 3 dimensions/);
  });

  it('a letter with two different sizes', () => {
    expect(() => einsum('ij,jk->ik', a, randomTensor([4, 2], 3))).toThrow(/dimension 'j' is 3 in one operand and 4 in another/);
  });

  it('an output letter that no operand has', () => {
    expect(() => einsum('ij,jk->iz', a, b)).toThrow(/output letter 'z'/);
    expect(() => einsum('ij->iz', a)).toThrow(/output letter 'z'/);
    expect(() => einsum('ab,bc,cd->az', a, b, randomTensor([4, 2], 3))).toThrow(/output letter 'z'/);
  });
});
