/**
 * Derivative rules of the elementwise ops: every differentiable function of
 * one argument, every arithmetic function of two with each broadcasting
 * pattern and with a number, against finite differences (first and second
 * derivatives, batched); ties of maximum and minimum; ops that record nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  div,
  equal,
  exp,
  expm1,
  greater,
  greaterEqual,
  log,
  log1p,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  reciprocal,
  relu,
  sigmoid,
  sign,
  softplus,
  sqrt,
  square,
  step,
  sub,
  tanh,
  type Shape,
  type Tensor,
} from '../src/index.js';
import { vjpWalk } from './helpers/autograd-walk.js';
import { checkOps, type OpCase } from './helpers/gradcheck.js';
import { randomTensor, t, values } from './helpers/tensors.js';

const positive = (shape: Shape, seed: number) => randomTensor(shape, seed, { low: 0.5, high: 2 });
/** Away from 0, where abs, relu, reciprocal have a kink or a pole. */
const awayFromZero = (shape: Shape, seed: number) => randomTensor(shape, seed, { minAbs: 0.2 });

describe('functions of one argument', () => {
  const unaries: [string, (x: Tensor) => Tensor, Tensor][] = [
    ['neg', neg, randomTensor([2, 3], 1)],
    ['abs', abs, awayFromZero([2, 3], 2)],
    ['exp', exp, randomTensor([2, 3], 3)],
    ['expm1', expm1, randomTensor([2, 3], 4)],
    ['log', log, positive([2, 3], 5)],
    ['log1p', log1p, randomTensor([2, 3], 6, { low: -0.5, high: 2 })],
    ['sqrt', sqrt, positive([2, 3], 7)],
    ['square', square, randomTensor([2, 3], 8)],
    ['reciprocal', reciprocal, awayFromZero([2, 3], 9)],
    ['tanh', tanh, randomTensor([2, 3], 10, { low: -2, high: 2 })],
    ['sigmoid', sigmoid, randomTensor([2, 3], 11, { low: -3, high: 3 })],
    ['relu', relu, awayFromZero([2, 3], 12)],
    ['softplus', softplus, randomTensor([2, 3], 13, { low: -3, high: 3 })],
  ];
  checkOps(unaries.map(([name, op, x]) => ({ name, op, inputs: [x] })));
});

describe('functions of two arguments with broadcasting', () => {
  const ops: [string, (a: Tensor, b: Tensor) => Tensor, (shape: Shape, seed: number) => Tensor, (shape: Shape, seed: number) => Tensor][] = [
    ['add', add, randomTensor, randomTensor],
    ['sub', sub, randomTensor, randomTensor],
    ['mul', mul, randomTensor, randomTensor],
    ['div', div, randomTensor, awayFromZero],
    ['pow', pow, positive, randomTensor],
    ['maximum', maximum, randomTensor, randomTensor],
    ['minimum', minimum, randomTensor, randomTensor],
  ];
  const patterns: [string, Shape, Shape][] = [
    ['same shape', [2, 3], [2, 3]],
    ['b lower rank', [2, 3], [3]],
    ['both stretched', [2, 1], [1, 3]],
    ['a lower rank, b with a leading batch', [3], [2, 1, 3]],
    ['b a scalar tensor', [2, 3], []],
  ];
  const cases: OpCase[] = ops.flatMap(([name, op, makeA, makeB], i) =>
    patterns.map(([pattern, shapeA, shapeB], j) => ({
      name: `${name}, ${pattern}: ${JSON.stringify(shapeA)} and ${JSON.stringify(shapeB)}`,
      op,
      inputs: [makeA(shapeA, 10 * i + j), makeB(shapeB, 10 * i + j + 100)],
    })),
  );
  checkOps(cases);

  checkOps([
    { name: 'mul with the same tensor twice (cotangents of both uses add up)', op: (x) => mul(x, x), inputs: [randomTensor([2, 3], 1)] },
    { name: 'only the second operand differentiated', op: mul, inputs: [randomTensor([2, 3], 2), randomTensor([3], 3)], options: { wrt: [1] } },
  ]);
});

describe('functions of a tensor and a number', () => {
  const x = randomTensor([2, 3], 21);
  const cases: [string, (x: Tensor) => Tensor, Tensor][] = [
    ['add', (v) => add(v, 1.5), x],
    ['sub', (v) => sub(v, 1.5), x],
    ['mul', (v) => mul(v, -2.5), x],
    ['div', (v) => div(v, 0.7), x],
    ['pow 2.5', (v) => pow(v, 2.5), positive([2, 3], 22)],
    ['pow -1.5', (v) => pow(v, -1.5), positive([2, 3], 23)],
    ['pow 3 of negative numbers', (v) => pow(v, 3), randomTensor([2, 3], 24, { low: -2, high: -0.5 })],
    ['maximum', (v) => maximum(v, 0.1), x],
    ['minimum', (v) => minimum(v, 0.1), x],
  ];
  checkOps(cases.map(([name, op, input]) => ({ name, op, inputs: [input] })));
});

describe('ties and ops without a derivative', () => {
  it('maximum and minimum split the derivative equally where the operands tie, as PyTorch', () => {
    const a = t([1, 2, 3], [3]).requiresGrad_();
    const b = t([2, 2, 2], [3]).requiresGrad_();
    const g = t([1, 1, 1], [3]);
    for (const [op, fromA, fromB] of [
      [maximum, [0, 0.5, 1], [1, 0.5, 0]],
      [minimum, [1, 0.5, 0], [0, 0.5, 1]],
    ] as const) {
      const [ga, gb] = vjpWalk(op(a, b), g, [a, b]);
      expect(values(ga!)).toEqual(fromA);
      expect(values(gb!)).toEqual(fromB);
      expect(values(vjpWalk(op(a, 2), g, [a])[0]!)).toEqual(fromA);
    }
  });

  it('comparisons, sign and step record nothing (their derivative is 0 wherever it exists)', () => {
    const x = randomTensor([2, 3], 1).requiresGrad_();
    for (const y of [greater(x, 0), greaterEqual(x, x), equal(x, 0.5), sign(x), step(x)]) {
      expect(y.gradFn).toBeUndefined();
      expect(y.requiresGrad).toBe(false);
    }
  });
});
