/**
 * The broadcasting and reduction rules on random shapes: reproducible draws
 * of broadcast shapes of rank 1-3 (an operand may lose leading dimensions,
 * down to a scalar, or hold a 1 where the other does not, on either side),
 * and of reductions over random (also negative) axes with and without
 * keepDims; each checked like the fixed cases.
 */
import { describe } from 'vitest';
import { add, div, max, maximum, mean, min, minimum, mul, pow, sub, sum, type Axes, type Shape, type Tensor } from '../src/index.js';
import { checkOps, type OpCase } from './helpers/gradcheck.js';
import { randomNumbers, randomTensor } from './helpers/tensors.js';

/** Reproducible integers in [0, n), drawn in order from one seed. */
function draws(seed: number): (n: number) => number {
  const numbers = randomNumbers(64, seed, 0, 1);
  let next = 0;
  return (n) => Math.floor(numbers[next++]! * n);
}

/** Two shapes that broadcast together: b drops leading dimensions, and either side may hold a 1 where the other does not. */
function broadcastPair(draw: (n: number) => number): [Shape, Shape] {
  const full = Array.from({ length: 1 + draw(3) }, () => 2 + draw(2));
  const a = full.map((d) => (draw(4) === 0 ? 1 : d));
  const b = full.map((d, i) => (a[i] !== 1 && draw(4) === 0 ? 1 : d)).slice(draw(full.length + 1));
  return draw(2) === 0 ? [a, b] : [b, a];
}

const binaries: [string, (a: Tensor, b: Tensor) => Tensor, { positiveA?: boolean; awayFromZeroB?: boolean }][] = [
  ['add', add, {}],
  ['sub', sub, {}],
  ['mul', mul, {}],
  ['div', div, { awayFromZeroB: true }],
  ['pow', pow, { positiveA: true }],
  ['maximum', maximum, {}],
  ['minimum', minimum, {}],
];

describe('binary ops on random broadcasting shapes', () => {
  const cases: OpCase[] = Array.from({ length: 21 }, (_, seed) => {
    const draw = draws(seed);
    const [name, op, domain] = binaries[seed % binaries.length]!;
    const [shapeA, shapeB] = broadcastPair(draw);
    return {
      name: `${name} ${JSON.stringify(shapeA)} and ${JSON.stringify(shapeB)} (draw ${seed})`,
      op,
      inputs: [
        randomTensor(shapeA, 2 * seed, domain.positiveA === true ? { low: 0.5, high: 2 } : {}),
        randomTensor(shapeB, 2 * seed + 1, domain.awayFromZeroB === true ? { minAbs: 0.3 } : {}),
      ],
    };
  });
  checkOps(cases);
});

const reductions: [string, (x: Tensor, axes?: Axes, keepDims?: boolean) => Tensor][] = [
  ['sum', sum],
  ['mean', mean],
  ['max', max],
  ['min', min],
];

describe('reductions over random axes of random shapes', () => {
  const cases: OpCase[] = Array.from({ length: 16 }, (_, seed) => {
    const draw = draws(100 + seed);
    const shape = Array.from({ length: 1 + draw(3) }, () => 1 + draw(3));
    const axes = shape.flatMap((_, i) => (draw(2) === 0 ? [] : [draw(2) === 0 ? i : i - shape.length]));
    const keepDims = draw(2) === 0;
    const [name, reduce] = reductions[seed % reductions.length]!;
    return {
      name: `${name} of ${JSON.stringify(shape)} over [${axes.join(', ')}]${keepDims ? ', keepDims' : ''} (draw ${seed})`,
      op: (x: Tensor) => reduce(x, axes, keepDims),
      inputs: [randomTensor(shape, 200 + seed)],
    };
  });
  checkOps(cases);
});
