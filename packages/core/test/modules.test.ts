/**
 * Forward values of the leaf modules against their definitions (the
 * finite-difference tests check derivatives against the forward pass, so the
 * forward pass itself must be right), and module bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import { Add, Dropout, Flatten, Identity, LogSigmoid, MSELoss, ReLU, SELU, Sequential, type Reduction } from '@backpack-ts/core';
import { activations } from './helpers/activations.js';
import { expectClose } from './helpers/close.js';
import { linear } from './helpers/models.js';
import { indices, randomTensor, values } from './helpers/tensors.js';

const EXACT_RTOL = 1e-12;

describe('activations compute their definition', () => {
  it.each(activations)('$name', ({ make, f }) => {
    const x = randomTensor([3, 4], 1, { low: -4, high: 4 });
    expectClose(make().forward(x), values(x).map(f), EXACT_RTOL, [3, 4]);
  });

  it('LogSigmoid and SELU stay finite for large inputs', () => {
    const x = randomTensor([6], 2, { low: -700, high: 700 });
    expect(values(new LogSigmoid().forward(x)).every(Number.isFinite)).toBe(true);
    expect(values(new SELU().forward(x)).every(Number.isFinite)).toBe(true);
  });
});

describe('Linear', () => {
  it('computes x Wᵀ + b over the last dimension', () => {
    for (const bias of [true, false]) {
      const layer = linear(4, 3, 1, bias);
      const x = randomTensor([2, 5, 4], 2);
      const [w, b, xs] = [values(layer.weight.data), layer.bias ? values(layer.bias.data) : [0, 0, 0], values(x)];
      const expected = [...indices([2, 5, 3])].map(([n, s, o]) => {
        let total = b[o!]!;
        for (let i = 0; i < 4; i++) total += xs[(n! * 5 + s!) * 4 + i]! * w[o! * 4 + i]!;
        return total;
      });
      expectClose(layer.forward(x), expected, EXACT_RTOL, [2, 5, 3]);
    }
  });

  it('initialises uniformly within ±1/sqrt(in), reproducibly from its generator', () => {
    const [a, b] = [linear(16, 8, 5), linear(16, 8, 5)];
    expect(values(a.weight.data)).toEqual(values(b.weight.data));
    const entries = [...values(a.weight.data), ...values(a.bias!.data)];
    expect(entries.every((v) => Math.abs(v) <= 1 / 4)).toBe(true);
    expect(a.weight.data.shape).toEqual([8, 16]);
    expect(a.bias!.data.shape).toEqual([8]);
  });
});

describe('shape-only modules', () => {
  it('Flatten, Identity and Add', () => {
    const x = randomTensor([2, 3, 4], 1);
    expect(new Flatten().forward(x).shape).toEqual([2, 12]);
    expect(values(new Flatten().forward(x))).toEqual(values(x));
    const same = new Identity().forward(x);
    expect(same).not.toBe(x);
    expect([same.shape, values(same)]).toEqual([x.shape, values(x)]);
    const y = randomTensor([2, 3, 4], 2);
    expectClose(new Add().forward(x, y, x), values(x).map((v, i) => 2 * v + values(y)[i]!), EXACT_RTOL, [2, 3, 4]);
  });

  it('Add refuses fewer than two inputs and inputs of different shapes', () => {
    expect(() => new Add().forward(randomTensor([2], 1))).toThrow(/Add: expects at least 2 inputs, got 1/);
    expect(() => new Add().forward(randomTensor([2, 3], 1), randomTensor([3, 2], 2))).toThrow(
      /inputs must have equal shapes, got \[2, 3\] and \[3, 2\]/,
    );
  });
});

describe('Dropout', () => {
  it('is the identity in evaluation mode and with p = 0', () => {
    const x = randomTensor([4, 5], 1);
    expect(values(new Dropout(0.5).eval().forward(x))).toEqual(values(x));
    expect(values(new Dropout(0).forward(x))).toEqual(values(x));
  });

  it('keeps about 1 - p of the entries in training mode', () => {
    const x = randomTensor([100, 100], 1, { minAbs: 0.1 });
    const kept = values(new Dropout(0.3).forward(x)).filter((v) => v !== 0).length / x.size;
    expect(Math.abs(kept - 0.7)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / x.size));
  });

  it('refuses p outside [0, 1)', () => {
    expect(() => new Dropout(1)).toThrow(/p must be in \[0, 1\), got 1/);
    expect(() => new Dropout(-0.1)).toThrow(/p must be in \[0, 1\)/);
  });
});

describe('Module', () => {
  it('train() and eval() set the mode of every descendant', () => {
    const inner = new Sequential(new Dropout(), new ReLU());
    const model = new Sequential(linear(2, 2, 1), inner);
    model.eval();
    expect(model.namedModules().map(([, m]) => m.training)).toEqual([false, false, false, false, false]);
    model.train();
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
  });

  it('a loss refuses an unknown reduction', () => {
    expect(() => new MSELoss('max' as Reduction)).toThrow(/reduction must be 'mean', 'sum' or 'none', got 'max'/);
  });
});
