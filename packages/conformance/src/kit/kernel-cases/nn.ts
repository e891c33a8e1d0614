/**
 * The softmax, log-softmax and one-hot kernel cases.
 */
import { formatShape, sizeOf, type Shape } from '@backpack-ts/core';
import { describeViews, input, type InputView, type KernelCase } from '../kernel-check.js';
import { Draw, PERMUTED_3D } from './inputs.js';

export function nnCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  const softmaxes: [Shape, number, number, InputView?][] = [
    [[4, 5], 1, 1],
    [[4, 5], 0, 1],
    [[2, 3, 4], 1, 1],
    [[2, 3, 4], 2, 1],
    [[1, 1], 1, 1],
    [[3, 1], 1, 1],
    [[7], 0, 1],
    [[4, 5, 6], 2, 1, PERMUTED_3D],
    [[200, 60], 1, 1],
    [[50, 30, 8], 1, 1],
    [[30, 400], 0, 1],
    [[4, 5], 1, 1e4],
    [[200, 60], 1, 1e4],
    [[4, 5], 1, 1e-30],
  ];
  for (const log of [false, true]) {
    const kernel = log ? 'logSoftmax' : 'softmax';
    for (const [shape, axis, scale, view] of softmaxes) {
      const x = input(shape, draw.normal(sizeOf(shape), scale * 3), view);
      const label = scale === 1 ? '' : scale > 1 ? ' large logits' : ' tiny logits';
      cases.push({
        family: 'nn',
        name: `${kernel} ${formatShape(shape)} axis ${axis}${label}${describeViews([x])}`,
        inputs: [x],
        run: (b, [h], dtype) => ({
          handle: log ? b.logSoftmax(h, shape, axis, dtype) : b.softmax(h, shape, axis, dtype),
          shape,
          dtype,
        }),
      });
    }
  }
  for (const [shape, depth] of [[[5], 4], [[2, 3], 3], [[], 5], [[3000], 10]] as const) {
    const indices = input(shape, draw.ints(sizeOf(shape), 0, depth - 1), undefined, true);
    const outShape = [...shape, depth];
    cases.push({
      family: 'nn',
      name: `oneHot ${formatShape(shape)} depth ${depth}`,
      inputs: [indices],
      exact: true,
      run: (b, [h], dtype) => ({ handle: b.oneHot(h, shape, depth, dtype), shape: outShape, dtype }),
    });
  }
  return cases;
}
