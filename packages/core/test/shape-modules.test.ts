/**
 * BackPACK's custom modules (Permute, Slicing, Pad, ScaleModule, SumModule,
 * Parallel): forward passes against index arithmetic written out here, the
 * batch-averaged products against finite differences, and the refusals.
 * (Their transposed Jacobians are in finite-differences.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  Identity,
  Linear,
  Pad,
  Parallel,
  Permute,
  ReLU,
  ScaleModule,
  Sequential,
  Slicing,
  SumModule,
  ZeroPad2d,
  extend,
  type LeafModule,
  type Shape,
  type SliceEntry,
} from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { expectClose } from './helpers/close.js';
import { batchAveragedJacTMatJac, randomSymmetric, tensorJacobian } from './helpers/finite-differences.js';
import { indices, offsetOf, randomTensor, t, values } from './helpers/tensors.js';

const FD_RTOL = 1e-7;
const EXACT_RTOL = 1e-12;

/** Output values from the input by `source(outIndex)`: an input multi-index, or a constant. */
function byHand(x: number[], inShape: Shape, outShape: Shape, source: (out: number[]) => number[] | number): number[] {
  return [...indices(outShape)].map((out) => {
    const from = source(out);
    return typeof from === 'number' ? from : x[offsetOf(from, inShape)]!;
  });
}

describe('Permute', () => {
  it('reorders dimensions as input.permute(dims), batch first', () => {
    const x = randomTensor([2, 3, 4, 5], 1);
    const y = new Permute([0, 3, 1, 2]).forward(x);
    expectClose(y, byHand(values(x), x.shape, [2, 5, 3, 4], ([n, a, b, c]) => [n!, b!, c!, a!]), EXACT_RTOL, [2, 5, 3, 4]);
    expect(new Permute([0, -1, 1, 2]).forward(x).shape).toEqual([2, 5, 3, 4]);
  });

  it('swaps two axes with initTranspose (BackPACK transpose form)', () => {
    const x = randomTensor([2, 3, 4], 2);
    const y = new Permute([1, 2], { initTranspose: true }).forward(x);
    expectClose(y, byHand(values(x), x.shape, [2, 4, 3], ([n, a, b]) => [n!, b!, a!]), EXACT_RTOL, [2, 4, 3]);
  });

  it('refuses moving the batch axis, wrong lengths and unknown options', () => {
    expect(() => new Permute([1, 0, 2])).toThrow(/Permute: the batch axis must stay first \(dims\[0\] = 0\), got \[1, 0, 2\]/);
    expect(() => new Permute([0, 1], { initTranspose: true })).toThrow(/neither the batch axis 0, got \[0, 1\]/);
    expect(() => new Permute([0, 2, 1], { init_transpose: true } as never)).toThrow(
      /Permute: unknown option 'init_transpose' \(known options: initTranspose\)/,
    );
    expect(() => new Permute([0, 2, 1]).forward(randomTensor([2, 3], 1))).toThrow(/Permute: dims \[0, 2, 1\] do not list the 2 dimensions of input \[2, 3\]/);
    expect(() => new Permute([0, 1, 1]).forward(randomTensor([2, 3, 3], 1))).toThrow(/are not a permutation of the 3 dimensions/);
  });
});

describe('Slicing', () => {
  const x = randomTensor([2, 5, 4, 3], 3);
  const cases: { info: SliceEntry[]; shape: number[]; source: (out: number[]) => number[] }[] = [
    { info: [{}, { start: 1, step: 2 }, { start: 0, stop: 2 }], shape: [2, 2, 2, 3], source: ([n, a, b, c]) => [n!, 1 + 2 * a!, b!, c!] },
    { info: [{}, { start: 1, stop: 3 }, 2], shape: [2, 2, 3], source: ([n, a, c]) => [n!, 1 + a!, 2, c!] },
    { info: [{}, -1], shape: [2, 4, 3], source: ([n, b, c]) => [n!, 4, b!, c!] },
    { info: [{}, { start: -4, stop: -1, step: 2 }, { step: 3 }, { start: 1 }], shape: [2, 2, 2, 2], source: ([n, a, b, c]) => [n!, 1 + 2 * a!, 3 * b!, 1 + c!] },
    { info: [{ start: null, stop: null, step: null }, { start: 7 }], shape: [2, 0, 4, 3], source: () => [] },
    { info: [{}, { stop: 100, step: 4 }, 0, { start: -100 }], shape: [2, 2, 3], source: ([n, a, c]) => [n!, 4 * a!, 0, c!] },
  ];

  it.each(cases)('indexes as PyTorch: $info', ({ info, shape, source }) => {
    const y = new Slicing(info).forward(x);
    expectClose(y, byHand(values(x), x.shape, shape, source), EXACT_RTOL, shape);
  });

  it('refuses a batch entry other than the full range, steps below 1 and indices out of range', () => {
    expect(() => new Slicing([0, {}])).toThrow(/Slicing: the first entry \(the batch axis\) must be the full range \{\}, got \[0, :\]/);
    expect(() => new Slicing([{ start: 1 }])).toThrow(/must be the full range/);
    expect(() => new Slicing([{}, { step: 0 }])).toThrow(/step >= 1, got \[:, ::0\]/);
    expect(() => new Slicing([{}, 5]).forward(x)).toThrow(/Slicing: index 5 is out of range for axis 1 of size 5 \(input \[2, 5, 4, 3\], index \[:, 5\]\)/);
    expect(() => new Slicing([{}, {}, {}, {}, {}]).forward(x)).toThrow(/has 5 entries, more than the 4 dimensions/);
  });
});

describe('Pad', () => {
  it('pads trailing dimensions with value, last dimension first, as torch.nn.functional.pad', () => {
    const x = randomTensor([2, 2, 3, 3], 4);
    const y = new Pad([1, 0, 0, 2, 1, 0], { value: 0.5 }).forward(x);
    const inside = (i: number, d: number) => i >= 0 && i < d;
    const expected = byHand(values(x), x.shape, [2, 3, 5, 4], ([n, c, h, w]) => {
      const [ci, hi, wi] = [c! - 1, h!, w! - 1];
      return inside(ci, 2) && inside(hi, 3) && inside(wi, 3) ? [n!, ci, hi, wi] : 0.5;
    });
    expectClose(y, expected, EXACT_RTOL, [2, 3, 5, 4]);
  });

  it('crops with negative amounts', () => {
    const x = randomTensor([2, 4, 5], 5);
    const y = new Pad([-1, 2, 1, -2], { value: -3 }).forward(x);
    const expected = byHand(values(x), x.shape, [2, 3, 6], ([n, h, w]) => {
      const [hi, wi] = [h! - 1, w! + 1];
      return hi >= 0 && wi < 5 ? [n!, hi, wi] : -3;
    });
    expectClose(y, expected, EXACT_RTOL, [2, 3, 6]);
  });

  it('refuses the batch axis, odd lengths, other modes and negative sizes', () => {
    expect(() => new Pad([1, 1, 1, 1]).forward(randomTensor([2, 3], 1))).toThrow(
      /Pad: pad \[1, 1, 1, 1\] has 2 pairs, but input \[2, 3\] has 1 dimensions besides the batch/,
    );
    expect(() => new Pad([1])).toThrow(/Pad: pad must be an even number of integers/);
    expect(() => new Pad([1, 1], { mode: 'reflect' as never })).toThrow(/Pad: mode 'reflect' is not supported; only 'constant'/);
    expect(() => new Pad([-2, -2]).forward(randomTensor([2, 3], 1))).toThrow(/crops input \[2, 3\] to a negative size \[2, -1\]/);
  });

  it('ZeroPad2d is Pad with value 0 on [N, C, H, W]', () => {
    const x = randomTensor([1, 2, 3, 3], 6);
    expect(values(new ZeroPad2d([1, 0, 2, -1]).forward(x))).toEqual(values(new Pad([1, 0, 2, -1]).forward(x)));
    expect(() => new ZeroPad2d(1).forward(randomTensor([2, 3], 1))).toThrow(/ZeroPad2d expects \[N, C, H, W\]/);
  });
});

describe('ScaleModule and SumModule', () => {
  it('multiply by a constant and sum their inputs', () => {
    const [x, y] = [randomTensor([2, 3], 7), randomTensor([2, 3], 8)];
    expectClose(new ScaleModule(-1.5).forward(x), values(x).map((v) => -1.5 * v), EXACT_RTOL, [2, 3]);
    expectClose(new SumModule().forward(x, y, x), values(x).map((v, i) => 2 * v + values(y)[i]!), EXACT_RTOL, [2, 3]);
    expect(() => new ScaleModule(Number.NaN)).toThrow(/ScaleModule: weight must be a finite number, got NaN/);
  });
});

describe('eaJacTMatJacProd is the batch mean of J_nᵀ M J_n', () => {
  const modules: [string, () => LeafModule, Shape][] = [
    ['Permute', () => new Permute([0, 2, 3, 1]), [3, 2, 3, 2]],
    ['Permute (initTranspose)', () => new Permute([1, 2], { initTranspose: true }), [3, 2, 4]],
    ['Slicing', () => new Slicing([{}, { start: 1, step: 2 }, 1]), [3, 5, 2]],
    ['Pad', () => new Pad([1, -1, 0, 2], { value: 0.25 }), [3, 2, 3]],
    ['ZeroPad2d', () => new ZeroPad2d([1, 0, 0, 2]), [2, 1, 2, 2]],
    ['ScaleModule', () => new ScaleModule(-0.7), [3, 4]],
  ];
  it.each(modules)('%s', (_, make, shape) => {
    const module = extend(make());
    const x = randomTensor(shape, 9).requiresGrad_();
    const output = module.forward(x);
    const jacobian = tensorJacobian((z) => module.forward(z), x);
    const [n, dOut, dIn] = [shape[0]!, output.size / shape[0]!, x.size / shape[0]!];
    const sym = randomSymmetric(dOut, 4);
    expectClose(module.eaJacTMatJacProd(output.producer!, t(sym, [dOut, dOut])), batchAveragedJacTMatJac(jacobian, sym, n), FD_RTOL, [dIn, dIn]);
  });
});

describe('Parallel', () => {
  it('sums its branches, with BackPACK parameter names', () => {
    const first = new Linear(3, 3, { backend: cpu, dtype: 'float64' });
    const second = new Sequential(new Linear(3, 3, { backend: cpu, dtype: 'float64' }), new ReLU(), new ScaleModule(-1.5));
    const model = new Sequential(new Linear(2, 3, { backend: cpu, dtype: 'float64' }), new Parallel(first, second, new Identity()));
    expect(model.namedParameters().map(([name]) => name)).toEqual([
      '0.weight',
      '0.bias',
      '1.branch.0.weight',
      '1.branch.0.bias',
      '1.branch.1.0.weight',
      '1.branch.1.0.bias',
    ]);
    const x = randomTensor([4, 3], 10);
    const parallel = model.layers[1] as Parallel;
    const expected = values(first.forward(x)).map((v, i) => v + values(second.forward(x))[i]! + values(x)[i]!);
    expectClose(parallel.forward(x), expected, EXACT_RTOL, [4, 3]);
    expect(() => new Parallel(new Identity())).toThrow(/Parallel: needs at least 2 branches, got 1/);
    expect(() => parallel.branch.forward()).toThrow(/ModuleList has no forward pass/);
  });
});
