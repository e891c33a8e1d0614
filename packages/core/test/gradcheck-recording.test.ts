/**
 * What ops record besides their rules: which calls mix samples (per
 * family, as each family's TSDoc defines it), that integers carry no
 * gradient, that recording costs no kernel call until a derivative is asked
 * for; and that the gradient checks themselves catch wrong rules.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import {
  add,
  broadcastTo,
  cast,
  concat,
  einsum,
  exp,
  flatten,
  fold,
  isOpNode,
  logSoftmax,
  matmul,
  max,
  maxPool,
  maxPoolTranspose,
  mean,
  min,
  mul,
  neg,
  noGrad,
  oneHot,
  pad,
  permute,
  pow,
  recordOp,
  reshape,
  slice,
  softmax,
  sum,
  tensor,
  transpose,
  unfold,
  unsqueeze,
  type Tensor,
  type WindowGeometry,
} from '../src/index.js';
import { countingBackend } from './helpers/backends.js';
import { batchcheck, gradcheck, gradgradcheck } from './helpers/gradcheck.js';
import { randomTensor, t } from './helpers/tensors.js';

const window: WindowGeometry = { kernel: [2], stride: [2], padding: [0], dilation: [1] };

function node(y: Tensor) {
  if (!isOpNode(y.gradFn)) throw new Error(`not recorded: ${y.toString()}`);
  return y.gradFn;
}

describe('mixesSamples, reading axis 0 as the batch axis', () => {
  // x: 4 samples of [3, 2]; w: no batch axis.
  const x = randomTensor([4, 3, 2], 1).requiresGrad_();
  const m = randomTensor([4, 6], 2).requiresGrad_();
  const w = randomTensor([6, 5], 3).requiresGrad_();
  const cases: [string, () => Tensor, boolean][] = [
    ['elementwise', () => exp(x), false],
    ['a broadcast operand without batch axis', () => add(x, randomTensor([3, 2], 4)), false],
    ['a broadcast operand with a batch axis of one', () => mul(x, randomTensor([1, 3, 2], 5)), false],
    ['a number', () => mul(x, 2), false],
    ['sum over axis 0', () => sum(x, 0), true],
    ['sum over everything', () => sum(x), true],
    ['sum over axis -1, keepDims', () => sum(x, -1, true), false],
    ['max over axes [0, 1]', () => max(x, [0, 1]), true],
    ['min over axis 2', () => min(x, 2), false],
    ['mean over axis 0 (a sum, then a division)', () => mean(x, 0).gradFn!.inputs[0]!, true],
    ['sum of a scalar', () => sum(sum(x)), false],
    ['broadcastTo', () => broadcastTo(x, [5, 4, 3, 2]), false],
    ['reshape keeping axis 0', () => reshape(x, [4, 6]), false],
    ['reshape merging axis 0', () => reshape(x, [12, 2]), true],
    ['flatten from 1', () => flatten(x, 1), false],
    ['flatten everything', () => flatten(x), true],
    ['unsqueeze at 0', () => unsqueeze(x, 0), true],
    ['unsqueeze at 1', () => unsqueeze(x, 1), false],
    ['permute moving axis 0', () => permute(x, [1, 0, 2]), true],
    ['transpose of the last two', () => transpose(x), false],
    ['slice of some samples', () => slice(x, [1], [2]), true],
    ['slice of every sample', () => slice(x, [0, 1], [4, 2]), false],
    ['pad along axis 0', () => pad(x, [0, 0, 0], [1, 0, 0]), true],
    ['pad along axis 1', () => pad(x, [0, 1, 0], [0, 1, 0]), false],
    ['concat along axis 0', () => concat([x, x], 0), true],
    ['concat along axis 2', () => concat([x, x], 2), false],
    ['cast', () => cast(x, 'float32'), false],
    ['matmul by a weight', () => matmul(m, w), false],
    ['matmul by a transposed weight', () => matmul(m, randomTensor([5, 6], 8), false, true), false],
    ['matmul contracting axis 0 (transA)', () => matmul(m, m, true, false), true],
    ['batched matmul', () => matmul(x, x, false, true), false],
    ['einsum keeping the batch letter at axis 0', () => einsum('nij,jk->nik', x, randomTensor([2, 3], 6)), false],
    ['einsum contracting it', () => einsum('nij,nik->jk', x, x), true],
    ['einsum moving it', () => einsum('nij->inj', x), true],
    ['einsum to a scalar', () => einsum('nij->', x), true],
    ['softmax along -1', () => softmax(x), false],
    ['softmax along 0', () => softmax(x, 0), true],
    ['logSoftmax along 0', () => logSoftmax(x, 0), true],
    ['unfold', () => unfold(x, window), false],
    ['fold', () => fold(reshape(x, [4, 6, 1]), [2], { ...window, kernel: [2], stride: [1] }), false],
    ['maxPool', () => maxPool(x, window).values, false],
    ['maxPoolTranspose', () => maxPoolTranspose(reshape(x, [4, 1, 3, 2]), noGrad(() => maxPool(randomTensor([1, 3, 4], 7), window).argmax), [4], window), false],
  ];
  it.each(cases)('%s', (_, make, mixes) => {
    expect(node(make()).mixesSamples).toBe(mixes);
  });
});

it('ops are recorded under the names users call them by', () => {
  const x = randomTensor([2, 3], 1).requiresGrad_();
  const names = [exp(x), pow(x, 2), transpose(x), flatten(x), unsqueeze(x, 0), einsum('ij->ji', x), maxPool(reshape(x, [1, 2, 3]), window).values];
  expect(names.map((y) => node(y).name)).toEqual(['exp', 'pow', 'transpose', 'flatten', 'unsqueeze', 'einsum', 'maxPool']);
});

describe('integers carry no gradient', () => {
  const indices = t([0, 2, 1, 1], [2, 2], 'int32').requiresGrad_();

  it('ops on int32 tensors record nothing, even when one is flagged', () => {
    for (const y of [add(indices, indices), sum(indices), reshape(indices, [4]), concat([indices, indices], 0), oneHot(indices, 3, 'float64'), cast(indices, 'float64')]) {
      expect(y.gradFn).toBeUndefined();
    }
  });

  it("maxPoolTranspose gives its argmax input no cotangent", () => {
    const { argmax } = maxPool(randomTensor([1, 1, 4], 1), window);
    const mat = randomTensor([1, 1, 1, 2], 2).requiresGrad_();
    const recorded = node(maxPoolTranspose(mat, argmax, [4], window));
    const [toMat, toArgmax] = recorded.derivatives.vjp(randomTensor([1, 1, 1, 4], 3));
    expect(toMat!.shape).toEqual([1, 1, 1, 2]);
    expect(toArgmax).toBeUndefined();
  });
});

describe('the cost of recording', () => {
  const run: [string, (a: Tensor, b: Tensor) => Tensor][] = [
    ['exp', (a) => exp(a)],
    ['add with broadcasting', (a, b) => add(a, sum(b, 0))],
    ['matmul', (a, b) => matmul(a, b, false, true)],
    ['einsum', (a, b) => einsum('ij,kj->ik', a, b)],
    ['softmax', (a) => softmax(a, 0)],
    ['max', (a) => max(a, 1)],
    ['maxPool', (a) => maxPool(reshape(a, [1, 2, 3]), { kernel: [2], stride: [1], padding: [1], dilation: [1] }).values],
  ];
  it.each(run)('%s runs the same kernels whether or not its inputs require gradients (rules run only when asked)', (_, op) => {
    const kernelsRun = (requiresGrad: boolean) => {
      const { backend, counts } = countingBackend(cpu);
      const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { backend }).requiresGrad_(requiresGrad);
      const b = tensor([6, 5, 4, 3, 2, 1], [2, 3], { backend }).requiresGrad_(requiresGrad);
      const before = counts.created;
      const y = op(a, b);
      expect(y.requiresGrad).toBe(requiresGrad);
      return counts.created - before;
    };
    expect(kernelsRun(true)).toBe(kernelsRun(false));
  });

  it('noGrad records nothing', () => {
    const x = randomTensor([2, 3], 1).requiresGrad_();
    expect(noGrad(() => matmul(exp(x), x, false, true)).gradFn).toBeUndefined();
  });
});

describe('the checks catch wrong rules', () => {
  /** exp recorded by hand, with a rule that can be broken on purpose. */
  const handmadeExp = (broken: 'nothing' | 'vjp sign' | 'jvp sign' | 'vjp of a constant') => (x: Tensor) => {
    const y = noGrad(() => exp(x));
    return recordOp('exp', [x], y, () => ({
      vjp: (g) => {
        if (broken === 'vjp sign') return [neg(mul(g, y))];
        // Right values, but computed without recording: its own derivative is lost.
        if (broken === 'vjp of a constant') return [mul(g, noGrad(() => exp(x)))];
        return [mul(g, y)];
      },
      jvp: ([tangent]) => (broken === 'jvp sign' ? neg(mul(tangent!, y)) : mul(tangent!, y)),
    }));
  };
  /** sum over axis 0 recorded by hand, with a JVP that forgets the extra leading dimensions. */
  const sumIgnoringLead = (x: Tensor) =>
    recordOp('sum', [x], noGrad(() => sum(x, 0)), () => ({
      vjp: (g) => [broadcastTo(reshape(g, [...g.shape.slice(0, g.rank - 1), 1, x.shape[1]!]), [...g.shape.slice(0, g.rank - 1), ...x.shape])],
      jvp: ([tangent]) => sum(tangent!, 0),
    }));
  const x = [randomTensor([2, 3], 1)];

  it('a right rule passes', () => {
    gradcheck(handmadeExp('nothing'), x);
    batchcheck(handmadeExp('nothing'), x);
    gradgradcheck(handmadeExp('nothing'), x);
  });

  it('a sign-flipped VJP or JVP fails gradcheck', () => {
    expect(() => gradcheck(handmadeExp('vjp sign'), x)).toThrow(/vjp w\.r\.t\. input 0: entry/);
    expect(() => gradcheck(handmadeExp('jvp sign'), x)).toThrow(/jvp of input 0: entry/);
  });

  it('a VJP that is right but not differentiable fails gradgradcheck only', () => {
    gradcheck(handmadeExp('vjp of a constant'), x);
    expect(() => gradgradcheck(handmadeExp('vjp of a constant'), x)).toThrow(/vjp of \(vjp w\.r\.t\. input 0\) w\.r\.t\. input 0: entry/);
  });

  it('a rule that ignores the extra leading dimensions fails batchcheck', () => {
    expect(() => batchcheck(sumIgnoringLead, x)).toThrow('sum: the tangent has shape [2, 3], expected [3, 3]');
  });
});
