/**
 * Derivative rules of the layout ops (reshape and its wrappers, permute and
 * transpose, slice, pad, concat, cast), against finite differences (first
 * and second derivatives, batched), and the cast between float dtypes.
 */
import { describe, expect, it } from 'vitest';
import { cast, concat, flatten, noGrad, pad, permute, reshape, slice, transpose, unsqueeze } from '../src/index.js';
import { jvpWalk, vjpWalk } from './helpers/autograd-walk.js';
import { checkOps } from './helpers/gradcheck.js';
import { randomTensor, t, values } from './helpers/tensors.js';

describe('layout ops', () => {
  const x = randomTensor([2, 3, 4], 1);
  checkOps([
    { name: 'reshape', op: (v) => reshape(v, [6, 4]), inputs: [x] },
    { name: 'reshape with an inferred dimension', op: (v) => reshape(v, [4, -1]), inputs: [x] },
    { name: 'reshape of a scalar', op: (v) => reshape(v, [1, 1]), inputs: [randomTensor([], 2)] },
    { name: 'flatten from dimension 1', op: (v) => flatten(v, 1), inputs: [x] },
    { name: 'unsqueeze at -1', op: (v) => unsqueeze(v, -1), inputs: [x] },
    { name: 'permute', op: (v) => permute(v, [2, 0, 1]), inputs: [x] },
    { name: 'permute with negative axes', op: (v) => permute(v, [-1, -3, -2]), inputs: [x] },
    { name: 'permute that keeps the order', op: (v) => permute(v, [0, 1, 2]), inputs: [x] },
    { name: 'transpose of the last two', op: (v) => transpose(v), inputs: [x] },
    { name: 'transpose of 0 and 2', op: (v) => transpose(v, 0, 2), inputs: [x] },
    { name: 'slice', op: (v) => slice(v, [1, 1, 0], [1, 2, 3]), inputs: [x] },
    { name: 'slice to the end, begin shorter than the rank', op: (v) => slice(v, [0, 2], [-1, -1]), inputs: [x] },
    { name: 'pad with a value', op: (v) => pad(v, [1, 0, 2], [0, 2, 1], 3.5), inputs: [x] },
    { name: 'concat along axis 1', op: (a, b, c) => concat([a, b, c], 1), inputs: [randomTensor([2, 1, 3], 3), randomTensor([2, 3, 3], 4), randomTensor([2, 2, 3], 5)] },
    { name: 'concat along axis -1', op: (a, b) => concat([a, b], -1), inputs: [randomTensor([2, 2], 6), randomTensor([2, 3], 7)] },
    { name: 'concat with an empty part', op: (a, b) => concat([a, b], 0), inputs: [randomTensor([0, 3], 8), randomTensor([2, 3], 9)] },
    { name: 'concat with one operand differentiated', op: (a, b) => concat([a, b], 0), inputs: [randomTensor([1, 3], 10), randomTensor([2, 3], 11)], options: { wrt: [1] } },
    { name: 'cast to its own dtype', op: (v) => cast(v, 'float64'), inputs: [x] },
  ]);
});

describe('cast between float dtypes', () => {
  it('casts the cotangent back and the tangent forward', () => {
    const x = t([1.5, -2.25], [2]).requiresGrad_();
    const y = cast(x, 'float32');
    expect(y.gradFn).toBeDefined();
    const [g] = vjpWalk(y, t([0.5, 4], [1, 2], 'float32'), [x]);
    expect(g!.dtype).toBe('float64');
    expect(g!.shape).toEqual([1, 2]);
    expect(values(g!)).toEqual([0.5, 4]);
    const tangent = jvpWalk(y, new Map([[x, t([1, 2, 3, 4], [2, 2])]]))!;
    expect(tangent.dtype).toBe('float32');
    expect(values(tangent)).toEqual([1, 2, 3, 4]);
  });

  it('records nothing to or from int32', () => {
    const x = t([1.5, -2.25], [2]).requiresGrad_();
    expect(cast(x, 'int32').gradFn).toBeUndefined();
    const indices = t([1, 2], [2], 'int32').requiresGrad_();
    expect(cast(indices, 'float64').gradFn).toBeUndefined();
  });

  it('concat of untracked operands records nothing, and values are the same as without recording', () => {
    const a = randomTensor([2, 2], 1);
    const b = randomTensor([2, 1], 2);
    expect(concat([a, b], 1).gradFn).toBeUndefined();
    const tracked = concat([randomTensor([2, 2], 1).requiresGrad_(), b], 1);
    expect(values(tracked)).toEqual(values(noGrad(() => concat([a, b], 1))));
  });
});
