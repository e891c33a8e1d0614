/**
 * What every optimiser shares: options validated with errors that name the
 * optimiser and the option, parameters listed once, PyTorch's skipping of
 * parameters without a gradient, zeroGrad, the version counter, and memory:
 * steps inside or outside the caller's tidy leave the live handle count flat;
 * float32 parameters step as float64 ones do.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Linear, MSELoss, Sequential, Tanh, Generator, extend, tidy, backpack, tensor } from '@backpack-ts/core';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { KFLR } from '@backpack-ts/kronecker';
import { describe, expect, it } from 'vitest';
import { Adam, DiagonalPreconditioner, KFACPreconditioner, SGD, type Optimizer } from '../src/index.js';
import { setGrad, smallLayer, valuesOf } from './helpers/arrays.js';
import { countingCpu } from '@backpack-ts/conformance';

describe('options', () => {
  const layer = smallLayer();
  const cases: [() => unknown, RegExp][] = [
    [() => new SGD(layer, { lr: -0.1 }), /^SGD: lr must be a finite number >= 0, got -0\.1$/],
    [() => new SGD(layer, { lr: Number.NaN }), /SGD: lr must be a finite number >= 0, got NaN/],
    [() => new SGD(layer, { momentum: -1 }), /SGD: momentum must be a finite number >= 0, got -1/],
    [() => new SGD(layer, { weightDecay: -1e-4 }), /SGD: weightDecay must be a finite number >= 0/],
    [() => new SGD(layer, { nesterov: true }), /SGD: nesterov needs momentum > 0 and dampening = 0, got momentum 0 and dampening 0/],
    [() => new SGD(layer, { nesterov: true, momentum: 0.9, dampening: 0.1 }), /SGD: nesterov needs .* dampening 0\.1/],
    [() => new SGD(layer, { learningRate: 0.1 } as never), /SGD: unknown option 'learningRate' \(known options: lr, momentum/],
    [() => new SGD(layer, { nesterov: 'yes' } as never), /SGD: nesterov must be true or false, got yes/],
    [() => new Adam(layer, { betas: [0.9, 1] }), /Adam: betas\[1\] must be a finite number >= 0 and < 1, got 1/],
    [() => new Adam(layer, { betas: [0.9] } as never), /Adam: betas must be a pair \[beta1, beta2\], got \[0\.9\]/],
    [() => new Adam(layer, { eps: -1 }), /Adam: eps must be a finite number >= 0, got -1/],
    [() => new Adam(layer, { weight_decay: 0.1 } as never), /Adam: unknown option 'weight_decay'/],
    [() => new DiagonalPreconditioner(layer, { lr: 0.1, damping: 1 } as never), /DiagonalPreconditioner: curvature must be one of 'diagGgnExact', 'diagGgnMc', 'diagH', got nothing/],
    [() => new DiagonalPreconditioner(layer, { curvature: 'diagGGN', lr: 0.1, damping: 1 } as never), /curvature must be one of .*, got 'diagGGN'/],
    [() => new DiagonalPreconditioner(layer, { curvature: 'diagH', lr: 0.1, damping: -1 }), /DiagonalPreconditioner: damping must be a finite number >= 0, got -1/],
    [() => new DiagonalPreconditioner(layer, { curvature: 'diagH', damping: 1 } as never), /DiagonalPreconditioner: lr must be a finite number >= 0, got undefined/],
    [() => new SGD([layer.parameter('weight'), layer.parameter('weight')]), /SGD: parameter 'parameter 1' is listed twice \(also as 'parameter 0'\)/],
  ];
  for (const [construct, message] of cases) {
    it(`refuses: ${message.source}`, () => expect(construct).toThrow(message));
  }
});

describe('stepping', () => {
  it('skips parameters without a gradient, as PyTorch, and bumps the version of the others', () => {
    const layer = smallLayer();
    const [weight, bias] = [layer.parameter('weight'), layer.parameter('bias')];
    const before = { weight: valuesOf(weight), bias: valuesOf(bias), version: bias.version };
    const optimizer = new SGD(layer, { lr: 0.5 });
    setGrad(weight, [1, 2, 3, 4, 5, 6]);
    optimizer.step();
    expect(valuesOf(weight)).toEqual(before.weight.map((t, i) => t - 0.5 * (i + 1)));
    expect(valuesOf(bias)).toEqual(before.bias);
    expect(bias.version).toBe(before.version);
    expect(weight.version).toBe(1);
  });

  it('zeroGrad disposes and forgets the gradients of its parameters', () => {
    const layer = smallLayer();
    const optimizer = new Adam(layer);
    for (const p of layer.parameters()) setGrad(p, valuesOf(p));
    const grads = layer.parameters().map((p) => p.grad!);
    optimizer.zeroGrad();
    expect(layer.parameters().map((p) => p.grad)).toEqual([undefined, undefined]);
    expect(grads.every((g) => g.isDisposed)).toBe(true);
  });

  it("keeps the new values alive when it steps inside the caller's tidy", () => {
    const layer = smallLayer();
    const optimizer = new SGD(layer, { lr: 0.1, momentum: 0.9 });
    for (let i = 0; i < 2; i++) {
      tidy(() => {
        for (const p of layer.parameters()) setGrad(p, valuesOf(p));
        optimizer.step();
      });
      for (const p of layer.parameters()) expect(p.data.isDisposed).toBe(false);
    }
  });
});

describe('memory', () => {
  /** A training step of a small extended network: forward, backward with DiagGGNExact and KFLR, step, zeroGrad, all in tidy. */
  function training(make: (model: Sequential) => Optimizer) {
    const { backend, live } = countingCpu();
    const options = { backend, dtype: 'float64' as const };
    const generator = new Generator(3);
    const model = extend(new Sequential(new Linear(4, 5, { ...options, generator }), new Tanh(), new Linear(5, 2, { ...options, generator })));
    const lossFunction = extend(new MSELoss());
    const x = generator.normal([6, 4], options);
    const y = generator.normal([6, 2], options);
    const optimizer = make(model);
    const step = () =>
      tidy(() => {
        const loss = lossFunction.forward(model.forward(x), y);
        backpack([new DiagGGNExact(), new KFLR()], () => loss.backward());
        optimizer.step();
        optimizer.zeroGrad();
      });
    return { step, live };
  }

  const makers: [string, (model: Sequential) => Optimizer][] = [
    ['SGD with momentum', (model) => new SGD(model, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
    ['Adam with amsgrad', (model) => new Adam(model, { amsgrad: true, weightDecay: 0.01 })],
    ['DiagonalPreconditioner with momentum', (model) => new DiagonalPreconditioner(model, { curvature: 'diagGgnExact', lr: 0.1, damping: 0.1, momentum: 0.5 })],
    ["KFACPreconditioner 'factored' with momentum", (model) => new KFACPreconditioner(model, { curvature: 'kflr', lr: 0.1, damping: 0.1, momentum: 0.5 })],
    ["KFACPreconditioner 'exact'", (model) => new KFACPreconditioner(model, { curvature: 'kflr', lr: 0.1, damping: 0.1, dampingRule: 'exact' })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: the live handle count is flat over 20 steps`, () => {
      const { step, live } = training(make);
      step(); // the first step creates the state
      step(); // the quantities of the last pass stay on the parameters until the next
      const counts: number[] = [];
      for (let i = 0; i < 20; i++) {
        step();
        counts.push(live());
      }
      expect(new Set(counts).size).toBe(1);
    });
  }

  it('releases the state on dispose()', () => {
    const { backend, live } = countingCpu();
    const layer = new Linear(3, 2, { backend, dtype: 'float64', generator: new Generator(0) });
    const optimizer = new Adam(layer);
    const before = live();
    for (const p of layer.parameters()) p.grad = p.data.detach();
    optimizer.step();
    optimizer.zeroGrad();
    optimizer.dispose();
    // Each parameter's data was replaced one for one; its moments are gone.
    expect(live()).toBe(before);
  });
});

describe('float32', () => {
  /** One step of `make` on a Linear(3, 2) in `dtype` with set gradients, diagonals and Kronecker factors; the new values. */
  function stepIn(dtype: 'float32' | 'float64', make: (layer: Sequential) => Optimizer): number[] {
    const like = { backend: cpu, dtype };
    const model = new Sequential(new Linear(3, 2, { ...like, generator: new Generator(9) }));
    for (const p of model.parameters()) {
      const values = Array.from(p.data.toArray());
      p.grad = tensor(values.map((v, i) => Math.sin(v) + i / 5), p.data.shape, like);
      p.diagGgnExact = tensor(values.map((v) => v * v + 0.5), p.data.shape, like);
      const sizes = p.data.rank === 2 ? [2, 3] : [2];
      p.kflr = sizes.map((n) => tensor(Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 + k / 10 : 0.1)), [n, n], like));
    }
    make(model).step();
    return model.parameters().flatMap((p) => Array.from(p.data.toArray()));
  }

  const makers: [string, (model: Sequential) => Optimizer][] = [
    ['SGD', (model) => new SGD(model, { lr: 0.1, momentum: 0.9, nesterov: true })],
    ['Adam', (model) => new Adam(model, { lr: 0.1, amsgrad: true })],
    ['DiagonalPreconditioner', (model) => new DiagonalPreconditioner(model, { curvature: 'diagGgnExact', lr: 0.1, damping: 0.1 })],
    ['KFACPreconditioner', (model) => new KFACPreconditioner(model, { curvature: 'kflr', lr: 0.1, damping: 0.1, dampingRule: 'exact' })],
  ];
  for (const [name, make] of makers) {
    it(`${name} steps float32 parameters as float64 ones, to float32 precision`, () => {
      const [single, double] = [stepIn('float32', make), stepIn('float64', make)];
      expect(single.length).toBe(6 + 2);
      single.forEach((value, i) => expect(Math.abs(value - double[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(double[i]!))));
    });
  }
});
