/**
 * The indexing ops (gather, indexSelect, select), stack and clone: values
 * against entries picked by hand from the input's array, derivative rules
 * against finite differences (first and second derivatives, batched), and
 * the errors.
 */
import { describe, expect, it } from 'vitest';
import { clone, concat, crossEntropy, gather, grad, indexSelect, isOpNode, logSoftmax, mean, neg, noGrad, reshape, select, stack, sum, type Tensor } from '../src/index.js';
import { expectClose } from './helpers/close.js';
import { vjpWalk } from './helpers/autograd-walk.js';
import { checkOps } from './helpers/gradcheck.js';
import { indices, offsetOf, randomTensor, t, values } from './helpers/tensors.js';

/** torch.gather written out: out[p] = x[p with p[dim] replaced by index[p]]. */
function gatherByHand(x: Tensor, dim: number, index: Tensor): number[] {
  const xs = values(x);
  const is = values(index);
  return [...indices(index.shape)].map((p) => {
    const source = [...p];
    source[dim] = is[offsetOf(p, index.shape)]!;
    return xs[offsetOf(source, x.shape)]!;
  });
}

describe('gather', () => {
  const x = randomTensor([3, 4, 2], 1);
  const alongMiddle = t([3, 0, 0, 1, 2, 2, 1, 3, 0, 0, 1, 1], [3, 2, 2], 'int32');
  const alongFirst = t([2, 0, 1, 1, 0, 2], [1, 3, 2], 'int32');
  const alongLast = t([1, 0, 0, 0, 1, 1], [3, 2, 1], 'int32');

  it('picks the entries torch.gather picks, along every dimension, with an index smaller than the input', () => {
    expect(values(gather(x, 1, alongMiddle))).toEqual(gatherByHand(x, 1, alongMiddle));
    expect(values(gather(x, 0, alongFirst))).toEqual(gatherByHand(x, 0, alongFirst));
    expect(values(gather(x, -1, alongLast))).toEqual(gatherByHand(x, 2, alongLast));
    expect(gather(x, 1, alongMiddle).shape).toEqual([3, 2, 2]);
  });

  checkOps([
    { name: 'gather along dimension 1 (repeated indices)', op: (v) => gather(v, 1, alongMiddle), inputs: [x] },
    { name: 'gather along dimension 0, fewer rows', op: (v) => gather(v, 0, alongFirst), inputs: [x] },
    { name: 'gather along the last dimension', op: (v) => gather(v, -1, alongLast), inputs: [x] },
  ]);

  it('adds the gradient of an entry gathered twice (a scatter-add), 0 where nothing was gathered', () => {
    const v = t([1, 2, 3], [1, 3]).requiresGrad_();
    const [g] = vjpWalk(gather(v, 1, t([2, 2, 0], [1, 3], 'int32')), t([10, 20, 30], [1, 3]), [v]);
    expect(values(g!)).toEqual([30, 0, 30]);
  });

  it('mixes samples only when gathering along dimension 0 or dropping rows', () => {
    const v = randomTensor([3, 4, 2], 1).requiresGrad_();
    const mixes = (y: Tensor) => (isOpNode(y.gradFn) ? y.gradFn.mixesSamples : undefined);
    expect(mixes(gather(v, 1, alongMiddle))).toBe(false);
    expect(mixes(gather(v, 0, t([0, 1, 2], [3, 1, 1], 'int32')))).toBe(true);
    expect(mixes(gather(v, 2, t([0, 1], [2, 1, 1], 'int32')))).toBe(true);
  });

  it('written into a negative log-likelihood, gives cross-entropy and its gradient through backward', () => {
    const logits = randomTensor([4, 3], 8).requiresGrad_();
    const targets = t([2, 0, 1, 2], [4], 'int32');
    const nll = neg(mean(gather(logSoftmax(logits, 1), 1, reshape(targets, [4, 1]))));
    const reference = crossEntropy(logits, targets);
    expectClose(values(nll), values(reference), 1e-14);
    const [viaGather] = grad([nll], [logits]);
    const [viaLoss] = grad([reference], [logits]);
    expectClose(viaGather!, values(viaLoss!), 1e-14);
  });

  it('refuses indices out of range, of another dtype or rank, and larger than the input', () => {
    expect(() => gather(x, 1, t([4], [1, 1, 1], 'int32'))).toThrow('gather: index 4 is out of range for dimension 1 of size 4 (input [3, 4, 2])');
    expect(() => gather(x, 1, t([-1], [1, 1, 1], 'int32'))).toThrow('gather: index -1 is out of range');
    expect(() => gather(x, 1, t([0], [1, 1, 1]))).toThrow('gather: the index must be an int32 tensor, got float64');
    expect(() => gather(x, 1, t([0], [1, 1], 'int32'))).toThrow('gather: the index [1, 1] must have the rank of the input [3, 4, 2]');
    expect(() => gather(x, 1, t(new Array(12).fill(0), [4, 1, 3], 'int32'))).toThrow('larger than the input [3, 4, 2] in dimension 0');
    expect(() => gather(t([0, 1], [2], 'int32'), 0, t([0], [1], 'int32'))).toThrow('gather: expects a float32 or float64 tensor, got int32');
  });
});

describe('indexSelect and select', () => {
  const x = randomTensor([3, 4], 2);
  const rows = values(x);
  const entry = (i: number, j: number) => rows[i * 4 + j]!;

  it('indexSelect takes the listed indices in order, repeats allowed, from numbers or an int32 tensor', () => {
    expect(values(indexSelect(x, 1, [3, 0, 0]))).toEqual([0, 1, 2].flatMap((i) => [entry(i, 3), entry(i, 0), entry(i, 0)]));
    expect(values(indexSelect(x, 0, t([2, 1], [2], 'int32')))).toEqual([2, 1].flatMap((i) => [0, 1, 2, 3].map((j) => entry(i, j))));
    expect(indexSelect(x, -1, []).shape).toEqual([3, 0]);
  });

  it('select drops the dimension, negative indices counting from the end', () => {
    expect(values(select(x, 1, -1))).toEqual([0, 1, 2].map((i) => entry(i, 3)));
    expect(select(x, 0, 2).shape).toEqual([4]);
    expect(values(select(x, 0, 2))).toEqual([0, 1, 2, 3].map((j) => entry(2, j)));
  });

  checkOps([
    { name: 'indexSelect with repeats', op: (v) => indexSelect(v, 1, [3, 0, 0, 1]), inputs: [x] },
    { name: 'indexSelect with an int32 tensor', op: (v) => indexSelect(v, 0, t([2, 0], [2], 'int32')), inputs: [x] },
    { name: 'select', op: (v) => select(v, 1, 2), inputs: [x] },
  ]);

  it('refuses bad indices with the op and the sizes', () => {
    expect(() => indexSelect(x, 1, [4])).toThrow('indexSelect: index 4 is out of range for axis 1 of size 4 (shape [3, 4])');
    expect(() => indexSelect(x, 1, t([0, 1], [2, 1], 'int32'))).toThrow('indexSelect: indices must be a one-dimensional int32 tensor, got int32 of shape [2, 1]');
    expect(() => select(x, 0, 3)).toThrow('select: index 3 is out of range for dimension 0 of size 3 (shape [3, 4])');
    expect(() => select(x, 2, 0)).toThrow(RangeError);
  });
});

describe('stack and concat', () => {
  const a = randomTensor([2, 3], 3);
  const b = randomTensor([2, 3], 4);

  it('stack puts the tensors along a new dimension, as torch.stack', () => {
    const [av, bv] = [values(a), values(b)];
    expect(values(stack([a, b]))).toEqual([...av, ...bv]);
    const middle = stack([a, b], 1);
    expect(middle.shape).toEqual([2, 2, 3]);
    expect(values(middle)).toEqual([...av.slice(0, 3), ...bv.slice(0, 3), ...av.slice(3), ...bv.slice(3)]);
    expect(values(stack([a, b], -1))).toEqual(av.flatMap((value, i) => [value, bv[i]!]));
  });

  it('concat joins along dimension 0 by default, as torch.cat', () => {
    expect(concat([a, b]).shape).toEqual([4, 3]);
  });

  checkOps([
    { name: 'stack at 1', op: (u, v) => stack([u, v], 1), inputs: [a, b] },
    { name: 'stack at -1, one operand differentiated', op: (u, v) => stack([u, v], -1), inputs: [a, b], options: { wrt: [0] } },
  ]);

  it('refuses tensors of different shapes, naming them', () => {
    expect(() => stack([a, randomTensor([3, 2], 5)])).toThrow('stack: tensor 1 has shape [3, 2], but tensor 0 has [2, 3]');
    expect(() => stack([])).toThrow('stack: needs at least one tensor');
  });
});

describe('clone', () => {
  checkOps([{ name: 'clone', op: (v) => clone(v), inputs: [randomTensor([2, 3], 6)] }]);

  it('is a copy that outlives the original, with the identity as its derivative, also as a method', () => {
    const x = randomTensor([2, 2], 7);
    const expected = values(x);
    const copy = x.clone();
    const fromOp = clone(x);
    x.dispose();
    expect(values(copy)).toEqual(expected);
    expect(values(fromOp)).toEqual(expected);
    const leaf = t([1, 2], [2]).requiresGrad_();
    const y = leaf.clone();
    expect(y.gradFn).toBeDefined();
    const [g] = vjpWalk(y, t([3, 4], [2]), [leaf]);
    expect(values(g!)).toEqual([3, 4]);
    expect(noGrad(() => clone(leaf)).gradFn).toBeUndefined();
    expect(values(sum(y))).toEqual([3]);
  });
});
