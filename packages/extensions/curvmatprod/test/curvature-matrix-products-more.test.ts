/**
 * HMP and GGNMP through a recurrent layer (non-diagonal residuals) against
 * dense matrices, the lifetime of the stored products, and every refusal.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Add,
  BatchNorm1d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  RNN,
  Sequential,
  Sigmoid,
  Tanh,
  backpack,
  extend,
  mul,
  tensor,
  type Tensor,
} from '@backpack-ts/core';
import { GGNMP, HMP, PCHMP } from '../src/index.js';
import { denseHessian, denseJacobian, expectDenseClose, identityLike, rowsOf, sandwich } from './helpers/dense-curvature.js';

const RTOL = 1e-10;
const g = (seed: number) => ({ backend: cpu, generator: new Generator(seed) });

function random(shape: number[], seed: number): Tensor {
  return new Generator(seed).uniform(shape, { low: -1, high: 1, backend: cpu, dtype: 'float64' });
}

const classes = (data: number[]) => tensor(data, [data.length], { backend: cpu, dtype: 'int32' });

describe('a recurrent layer (residual terms that couple the time steps)', () => {
  it.each(['mean', 'sum'] as const)("HMP is the block Hessian and GGNMP the GGN block (CrossEntropyLoss('%s'))", (reduction) => {
    const model = extend(new Sequential(new RNN(2, 3, { batchFirst: true, ...g(1) }), new Flatten(), new Linear(9, 2, g(2))));
    const lossModule = new CrossEntropyLoss(reduction);
    const x = random([2, 3, 2], 3);
    const target = classes([1, 0]);

    const prediction = model.forward(x);
    const reference = lossModule.forward(prediction, target);
    const lossHessian = denseHessian(reference, prediction);
    const parameters = model.parameters();
    const hessian = parameters.map((p) => denseHessian(reference, p.data));
    const ggn = parameters.map((p) => sandwich(denseJacobian(prediction, p.data), lossHessian));

    const loss = lossModule.forward(model.forward(x), target);
    backpack([new HMP(), new GGNMP()], () => loss.backward());
    parameters.forEach((p, i) => {
      expectDenseClose(rowsOf(p.hmp!(identityLike(p.data))), hessian[i]!, RTOL, `HMP of parameter ${i}`);
      expectDenseClose(rowsOf(p.ggnmp!(identityLike(p.data))), ggn[i]!, RTOL, `GGNMP of parameter ${i}`);
    });
  });

  it('PCHMP refuses it before the pass, naming it', () => {
    const model = extend(new Sequential(new RNN(2, 3, { batchFirst: true, ...g(1) }), new Flatten(), new Linear(9, 2, g(2))));
    const loss = new CrossEntropyLoss().forward(model.forward(random([2, 3, 2], 3)), classes([1, 0]));
    expect(() => backpack([new PCHMP()], () => loss.backward())).toThrow(
      /^PCHMP cannot run: the residual term of the Hessian of RNN '0' is not diagonal, so its eigenvalues are not at hand; use HMP or GGNMP/,
    );
    expect(model.parameters().every((p) => p.pchmp === undefined && p.grad === undefined)).toBe(true);
  });
});

function mlp() {
  const model = extend(new Sequential(new Linear(3, 4, g(1)), new Sigmoid(), new Linear(4, 2, g(2))));
  const forward = () => new MSELoss().forward(model.forward(random([3, 3], 3)), random([3, 2], 4));
  return { model, forward };
}

describe('stored products', () => {
  it('are kept alive after the pass and released when the next pass replaces them', () => {
    const { model, forward } = mlp();
    const weight = model.parameters()[0]!;
    const first = forward();
    backpack([new HMP()], () => first.backward());
    const stored = weight.hmp!;
    expect(stored.tensors.length).toBeGreaterThan(0);
    expect(stored.tensors.every((t) => !t.isDisposed)).toBe(true);
    const before = rowsOf(stored(identityLike(weight.data)));
    const second = forward();
    backpack([new HMP()], () => second.backward());
    expect(weight.hmp).not.toBe(stored);
    expect(stored.tensors.every((t) => t.isDisposed)).toBe(true);
    expectDenseClose(rowsOf(weight.hmp!(identityLike(weight.data))), before, 1e-14, 'same model, same data');
  });

  it('refuse a matrix of the wrong shape and a model changed since the pass, naming the parameter and the module', () => {
    const { model, forward } = mlp();
    const weight = model.parameters()[0]!;
    const loss = forward();
    backpack([new GGNMP()], () => loss.backward());
    expect(() => weight.ggnmp!(random([2, 4, 4], 1))).toThrow(
      /^GGNMP: the product of parameter 'weight' of Linear '0' takes a matrix of shape \[V, 4, 3\], got \[2, 4, 4\]/,
    );
    model.parameters()[2]!.data = random([2, 4], 9);
    expect(() => weight.ggnmp!(identityLike(weight.data))).toThrow(
      /^GGNMP: parameter 'weight' of Linear '2' was replaced after the backward pass that stored this product \(version 0 then, 1 now\)/,
    );
  });
});

describe('refusals before the pass', () => {
  it('a tensor feeding two modules (branching)', () => {
    const first = new Linear(3, 4, g(1));
    const [a, b, add, head] = [new Sigmoid(), new Tanh(), new Add(), new Linear(4, 2, g(2))];
    extend(new Sequential(first, a, b, add, head));
    const h = first.forward(random([3, 3], 3));
    const loss = new MSELoss().forward(head.forward(add.forward(a.forward(h), b.forward(h))), random([3, 2], 4));
    expect(() => backpack([new HMP()], () => loss.backward())).toThrow(
      /^HMP cannot run: the output of Linear '0' feeds 2 nodes \(the graph branches\); the backpropagated curvature products are exact for sequences of modules only/,
    );
    expect(first.weight.grad).toBeUndefined();
  });

  it('a parameter shared by two calls', () => {
    const shared = new Linear(3, 3, g(1));
    extend(new Sequential(shared));
    const loss = new MSELoss().forward(shared.forward(new Sigmoid().forward(shared.forward(random([2, 3], 3)))), random([2, 3], 4));
    expect(() => backpack([new GGNMP()], () => loss.backward())).toThrow(/^GGNMP cannot run: parameter 'weight' of Linear '0' is used by 2 module calls/);
  });

  it('an op between modules', () => {
    const [first, second] = [new Linear(3, 4, g(1)), new Linear(4, 2, g(2))];
    extend(new Sequential(first, second));
    const loss = new MSELoss().forward(second.forward(mul(first.forward(random([3, 3], 3)), 2)), random([3, 2], 4));
    expect(() => backpack([new PCHMP()], () => loss.backward())).toThrow(/^PCHMP cannot run: .*op 'mul'/);
  });

  it('BatchNorm in training mode (samples mix)', () => {
    const model = extend(new Sequential(new Linear(3, 4, g(1)), new BatchNorm1d(4, { backend: cpu }), new Linear(4, 2, g(2))));
    const loss = new MSELoss().forward(model.forward(random([3, 3], 3)), random([3, 2], 4));
    expect(() => backpack([new HMP()], () => loss.backward())).toThrow(/^HMP cannot run: .*BatchNorm1d '1' is in training mode/);
  });

  it('unknown options and an unknown modify', () => {
    expect(() => new HMP({ saveField: 'x' } as never)).toThrow(/^HMP: unknown option 'saveField' \(known options: savefield\)/);
    expect(() => new GGNMP({ x: 1 } as never)).toThrow(/^GGNMP: unknown option 'x' \(known options: savefield\)/);
    expect(() => new PCHMP({ mode: 'abs' } as never)).toThrow(/^PCHMP: unknown option 'mode' \(known options: modify, savefield\)/);
    expect(() => new PCHMP({ modify: 'square' as never })).toThrow(/^PCHMP: modify must be 'clip' or 'abs', got 'square'/);
  });

  it('a savefield that is not an identifier, or that Parameter already has', () => {
    for (const bad of ['', '1st', 'pch mp', 'a.b', 3]) {
      expect(() => new HMP({ savefield: bad as never })).toThrow(/^HMP: savefield must be a non-empty identifier .*, got /);
    }
    for (const taken of ['data', 'grad', 'version', 'requiresGrad', 'constructor', '__proto__', 'toString']) {
      expect(() => new PCHMP({ modify: 'abs', savefield: taken })).toThrow(new RegExp(`^PCHMP: savefield '${taken}' is taken by every Parameter`));
      expect(() => new GGNMP({ savefield: taken })).toThrow(/^GGNMP: savefield .* is taken by every Parameter \(its members data, grad, version, requiresGrad and those of Object.prototype\)/);
    }
  });

  it('two extensions saving to one field, named by the engine before anything is stored', () => {
    const { model, forward } = mlp();
    const weight = model.parameters()[0]!;
    const loss = forward();
    expect(() => backpack([new PCHMP(), new PCHMP({ modify: 'abs' })], () => loss.backward())).toThrow(
      "backpack(): two extensions save to 'pchmp' (PCHMP and PCHMP); pass each extension once, or give one another savefield",
    );
    expect(() => backpack([new HMP({ savefield: 'curvature' }), new GGNMP({ savefield: 'curvature' })], () => loss.backward())).toThrow(
      "backpack(): two extensions save to 'curvature' (HMP and GGNMP)",
    );
    expect(weight.grad).toBeUndefined();
    expect(weight.pchmp).toBeUndefined();
    expect((weight as unknown as Record<string, unknown>)['curvature']).toBeUndefined();
  });
});
