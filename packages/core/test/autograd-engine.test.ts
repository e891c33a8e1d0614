/**
 * The backward engine against the op-recording contract alone: `grad()`
 * with PyTorch's semantics, `backward()` on any recorded graph, retained
 * and freed graphs, second derivatives (`createGraph`) checked against a
 * dense Hessian built column by column by finite differences, leaves'
 * `.grad`, `detach()` and `noGrad()`. The ops are the conformance package's
 * test ops (written with `recordOp`), not core's own.
 */
import { describe, expect, it } from 'vitest';
import { grad, noGrad, type Tensor } from '@backpack-ts/core';
import { recordedOps } from '@backpack-ts/conformance';
import { expectClose } from './helpers/close.js';
import { randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

const { mul, scale, square, sum, tanh } = recordedOps;

/** Float64 rounding only (the derivatives are analytic). */
const EXACT_RTOL = 1e-12;

/**
 * f(w) = (Σ tanh(w ⊙ x))², whose Hessian is dense (every pair of entries
 * couples). w is used once: where a tensor is used twice, the engine sums
 * the gradients with core's `add`, whose rule is core's own.
 */
function f(w: Tensor, x: Tensor): Tensor {
  return square(sum(tanh(mul(w, x))));
}

/** ∇f in plain JavaScript: 2 s (1 - tanh²(w x)) x with s = Σ tanh(w x). */
function gradientByHand(w: readonly number[], x: readonly number[]): number[] {
  const s = w.reduce((total, wi, i) => total + Math.tanh(wi * x[i]!), 0);
  return w.map((wi, i) => {
    const th = Math.tanh(wi * x[i]!);
    return 2 * s * (1 - th * th) * x[i]!;
  });
}

/**
 * The dense Hessian, column by column, by central differences of the
 * gradient with Richardson extrapolation (error O(h⁴)): independent of the
 * engine.
 */
function denseHessian(w: readonly number[], x: readonly number[]): number[][] {
  const column = (j: number, h: number) => {
    const [plus, minus] = [[...w], [...w]];
    plus[j]! += h;
    minus[j]! -= h;
    const [gp, gm] = [gradientByHand(plus, x), gradientByHand(minus, x)];
    return gp.map((g, i) => (g - gm[i]!) / (2 * h));
  };
  return w.map((_, j) => {
    const [coarse, fine] = [column(j, 2e-3), column(j, 1e-3)];
    return fine.map((v, i) => (4 * v - coarse[i]!) / 3);
  });
}

describe('grad()', () => {
  it('returns the gradient w.r.t. leaves without touching .grad', () => {
    const x = randomTensor([4], 1).requiresGrad_();
    const [g] = grad(sum(square(x)), [x]);
    expectClose(g!, values(x).map((v) => 2 * v), EXACT_RTOL, [4]);
    expect(x.grad).toBeUndefined();
    expect(g!.requiresGrad).toBe(false);
  });

  it('w.r.t. a tensor in the middle of the graph, and a leaf behind it, in one call', () => {
    const x = randomTensor([3], 2).requiresGrad_();
    const h = tanh(x);
    const [gh, gx] = grad(sum(square(h)), [h, x]);
    expectClose(gh!, values(h).map((v) => 2 * v), EXACT_RTOL, [3]);
    expectClose(gx!, values(h).map((v) => 2 * v * (1 - v * v)), EXACT_RTOL, [3]);
  });

  it('sums several outputs, each weighted by its gradOutputs entry', () => {
    const x = randomTensor([3], 3).requiresGrad_();
    const [v, u] = [randomTensor([3], 4), randomTensor([3], 5)];
    const [g] = grad([square(x), scale(x, 3)], [x], { gradOutputs: [v, u] });
    expectClose(g!, values(x).map((xi, i) => 2 * xi * values(v)[i]! + 3 * values(u)[i]!), EXACT_RTOL, [3]);
    expect(() => grad([square(x)], [x])).toThrow(
      'grad(): a gradient can be created implicitly only for a one-element output, got shape [3]; pass gradOutputs (the gradient w.r.t. it) or reduce it to a scalar loss first',
    );
    expect(() => grad([square(x)], [x], { gradOutputs: [v, u] })).toThrow('grad(): 2 gradOutputs for 1 outputs; give one per output');
  });

  it('an input the outputs do not depend on is an error, or undefined with allowUnused', () => {
    const [x, unused] = [randomTensor([2], 6).requiresGrad_(), randomTensor([2], 7).requiresGrad_()];
    const loss = () => sum(square(x));
    expect(() => grad(loss(), [x, unused])).toThrow(
      'grad(): input 1 (shape [2]) was not used to compute the outputs; pass allowUnused: true to get undefined for it',
    );
    const [g, none] = grad(loss(), [x, unused], { allowUnused: true });
    expectClose(g!, values(x).map((v) => 2 * v), EXACT_RTOL, [2]);
    expect(none).toBeUndefined();
  });

  it('an input that requires no gradient is an error, naming it', () => {
    const x = randomTensor([2], 8);
    expect(() => grad(sum(square(randomTensor([2], 9).requiresGrad_())), [x])).toThrow(
      'grad(): input 0 (shape [2]) does not require gradients; call requiresGrad_() on it before computing the outputs',
    );
  });

  it('a second pass through a freed graph is refused, as PyTorch; retainGraph keeps it', () => {
    const x = randomTensor([3], 10).requiresGrad_();
    const loss = sum(square(tanh(x)));
    const [first] = grad(loss, [x], { retainGraph: true });
    const [second] = grad(loss, [x]);
    expect(values(second!)).toEqual(values(first!));
    expect(() => grad(loss, [x])).toThrow(
      "grad(): trying to backward through the graph a second time (through op 'sum' (called outside any module)), " +
        'but the previous backward pass freed it; pass retainGraph: true to that backward() or grad() to backward through the graph again, ' +
        'or run the forward pass again',
    );
  });

  it('createGraph: a Hessian-vector product by double backward equals the dense Hessian times the vector', () => {
    const [wData, xData, vData] = [randomNumbers(6, 11), randomNumbers(6, 12, -2, 2), randomNumbers(6, 13)];
    const [w, x, v] = [t(wData, [6]).requiresGrad_(), t(xData, [6]), t(vData, [6])];
    const [g] = grad(f(w, x), [w], { createGraph: true });
    expect(g!.requiresGrad).toBe(true);
    expectClose(g!, gradientByHand(wData, xData), EXACT_RTOL, [6]);
    const [hv] = grad(sum(mul(g!, v)), [w], { retainGraph: true });
    const hessian = denseHessian(wData, xData);
    const expected = hessian.map((row) => row.reduce((s, h, j) => s + h * vData[j]!, 0));
    expectClose(hv!, expected, 1e-9, [6]);
    // Every column of the dense Hessian, as the gradient of one entry of the gradient.
    for (let j = 0; j < 6; j++) {
      const unit = t(wData.map((_, i) => (i === j ? 1 : 0)), [6]);
      const [column] = grad(sum(mul(g!, unit)), [w], { retainGraph: true });
      expectClose(column!, hessian[j]!, 1e-9, [6]);
    }
  });
});

describe('backward()', () => {
  it('accumulates .grad of a leaf that requires gradients, as PyTorch', () => {
    const x = randomTensor([3], 20).requiresGrad_();
    sum(square(x)).backward();
    expectClose(x.grad!, values(x).map((v) => 2 * v), EXACT_RTOL, [3]);
    sum(scale(x, 3)).backward();
    expectClose(x.grad!, values(x).map((v) => 2 * v + 3), EXACT_RTOL, [3]);
  });

  it('from a tensor of any shape, given the gradient w.r.t. it', () => {
    const x = randomTensor([2, 2], 21).requiresGrad_();
    const v = randomTensor([2, 2], 22);
    square(x).backward({ gradient: v });
    expectClose(x.grad!, values(x).map((xi, i) => 2 * xi * values(v)[i]!), EXACT_RTOL, [2, 2]);
  });

  it('the gradient of a leaf root is its seed, stored as a handle of its own', () => {
    const x = randomTensor([2], 23).requiresGrad_();
    const seed = t([1, 2], [2]);
    x.backward({ gradient: seed });
    expect(x.grad).not.toBe(seed);
    seed.dispose();
    expect(values(x.grad!)).toEqual([1, 2]);
  });

  it('retainGraph: two passes through one graph add up; without it the second is refused', () => {
    const x = randomTensor([3], 24).requiresGrad_();
    const loss = sum(square(x));
    loss.backward({ retainGraph: true });
    loss.backward();
    expectClose(x.grad!, values(x).map((v) => 4 * v), EXACT_RTOL, [3]);
    const before = x.grad;
    expect(() => loss.backward()).toThrow(/^backward\(\): trying to backward through the graph a second time/);
    expect(x.grad).toBe(before);
  });

  it('createGraph: the gradient is recorded and can be differentiated again', () => {
    const x = randomTensor([3], 25).requiresGrad_();
    sum(square(square(x))).backward({ createGraph: true }); // Σ x⁴
    const g = x.grad!;
    expect(g.requiresGrad).toBe(true);
    expectClose(g, values(x).map((v) => 4 * v ** 3), EXACT_RTOL, [3]);
    x.grad = undefined;
    sum(g).backward();
    expectClose(x.grad!, values(x).map((v) => 12 * v ** 2), EXACT_RTOL, [3]);
  });

  it('detach() cuts the graph: the detached factor is a constant', () => {
    const x = randomTensor([3], 26).requiresGrad_();
    const constant = x.detach();
    expect(constant.requiresGrad).toBe(false);
    expect(constant.gradFn).toBeUndefined();
    expect(values(constant)).toEqual(values(x));
    sum(mul(x, constant)).backward();
    expectClose(x.grad!, values(x), EXACT_RTOL, [3]);
    constant.dispose();
    expect(x.isDisposed).toBe(false);
  });

  it('records nothing under noGrad(), which a backward pass then refuses', () => {
    const x = randomTensor([3], 27).requiresGrad_();
    const loss = noGrad(() => sum(square(x)));
    expect(loss.gradFn).toBeUndefined();
    expect(() => loss.backward()).toThrow(/^backward\(\): the tensor of shape \[\] does not require gradients/);
  });
});
