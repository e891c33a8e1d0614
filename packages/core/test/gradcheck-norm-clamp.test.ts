/**
 * `norm` and `clamp`: values against plain JavaScript, derivative rules
 * against finite differences (first and second derivatives, batched) away
 * from the kinks, and PyTorch's choices at the kinks: the 2-norm's gradient
 * is 0 at 0, clamp's is 1 on the bounds.
 */
import { describe, expect, it } from 'vitest';
import { clamp, grad, mul, norm, sum, tidy } from '../src/index.js';
import { vjpWalk } from './helpers/autograd-walk.js';
import { checkOps } from './helpers/gradcheck.js';
import { expectClose } from './helpers/close.js';
import { randomTensor, t, values } from './helpers/tensors.js';

describe('norm', () => {
  const x = randomTensor([2, 3, 4], 1, { minAbs: 0.05 });
  const xs = values(x);
  /** Row-wise norms of x read as [6, 4] (dim -1). */
  const rows = [0, 1, 2, 3, 4, 5].map((r) => xs.slice(4 * r, 4 * r + 4));

  it('computes the 2-, 1- and ∞-norms of all elements and along a dimension', () => {
    expectClose(values(norm(x)), [Math.sqrt(xs.reduce((s, v) => s + v * v, 0))], 1e-14);
    expectClose(values(norm(x, { p: 1 })), [xs.reduce((s, v) => s + Math.abs(v), 0)], 1e-14);
    expect(values(norm(x, { p: Infinity }))).toEqual([Math.max(...xs.map(Math.abs))]);
    expect(values(norm(x, { p: -Infinity }))).toEqual([Math.min(...xs.map(Math.abs))]);
    const perRow = norm(x, { dim: -1, keepDim: true });
    expect(perRow.shape).toEqual([2, 3, 1]);
    expectClose(values(perRow), rows.map((r) => Math.hypot(...r)), 1e-14);
    expect(norm(x, { dim: [0, 2] }).shape).toEqual([3]);
  });

  checkOps([
    { name: '2-norm of all elements', op: (v) => norm(v), inputs: [x] },
    { name: '2-norm over dimension 1, keepDim', op: (v) => norm(v, { dim: 1, keepDim: true }), inputs: [x] },
    { name: '2-norm over dimensions [0, -1]', op: (v) => norm(v, { dim: [0, -1] }), inputs: [x] },
    { name: '1-norm over dimension 2', op: (v) => norm(v, { p: 1, dim: 2 }), inputs: [x] },
    { name: '∞-norm over dimension 0', op: (v) => norm(v, { p: Infinity, dim: 0 }), inputs: [x] },
  ]);

  it('has gradient 0 where the 2-norm is 0 (as PyTorch), x / ‖x‖ elsewhere, also at second order', () => {
    const v = t([0, 0, 3, 4], [2, 2]).requiresGrad_();
    const [g] = vjpWalk(norm(v, { dim: 1 }), t([1, 1], [2]), [v]);
    expectClose(values(g!), [0, 0, 0.6, 0.8], 1e-15);
    // Hessian-vector product of ‖row‖ summed, in direction u: (u - x (x·u)/‖x‖²)/‖x‖ on the nonzero row, 0 on the zero row.
    const u = t([1, 2, 1, 1], [2, 2]);
    const hvp = tidy(() => {
      const [first] = grad([sum(norm(v, { dim: 1 }))], [v], { createGraph: true });
      return grad([sum(mul(first!, u))], [v])[0]!;
    });
    const [x1, x2, u1, u2] = [3, 4, 1, 1];
    const along = (x1 * u1 + x2 * u2) / 25;
    expectClose(values(hvp), [0, 0, (u1 - x1 * along) / 5, (u2 - x2 * along) / 5], 1e-14);
  });

  it('refuses unknown norms and options', () => {
    expect(() => norm(x, { p: 3 })).toThrow('norm: p = 3 is not supported; use 2, 1, Infinity or -Infinity');
    expect(() => norm(x, { keepdim: true } as never)).toThrow("norm: unknown option 'keepdim' (known options: p, dim, keepDim)");
    expect(() => norm(t([1], [1], 'int32'))).toThrow('norm: expects a float32 or float64 tensor, got int32');
  });
});

describe('clamp', () => {
  // Entries at least 0.05 away from the bounds ±0.5, where finite differences are exact.
  const x = t([-0.9, -0.45, 0.1, 0.55, 0.8, -0.6], [2, 3]);

  it('limits the elements to [min, max], either bound optional; min > max gives max (as PyTorch)', () => {
    expect(values(clamp(x, { min: -0.5, max: 0.5 }))).toEqual([-0.5, -0.45, 0.1, 0.5, 0.5, -0.5]);
    expect(values(clamp(x, { min: 0 }))).toEqual([0, 0, 0.1, 0.55, 0.8, 0]);
    expect(values(clamp(x, { max: 0 }))).toEqual([-0.9, -0.45, 0, 0, 0, -0.6]);
    expect(values(clamp(x, { min: 1, max: 0 }))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  checkOps([
    { name: 'clamp to [-0.5, 0.5]', op: (v) => clamp(v, { min: -0.5, max: 0.5 }), inputs: [x] },
    { name: 'clamp from below', op: (v) => clamp(v, { min: 0 }), inputs: [x] },
    { name: 'clamp from above', op: (v) => clamp(v, { max: 0 }), inputs: [x] },
  ]);

  it('passes the gradient where min <= x <= max, bounds included (as PyTorch)', () => {
    const v = t([-1, -0.5, 0, 0.5, 1], [5]).requiresGrad_();
    const [g] = vjpWalk(clamp(v, { min: -0.5, max: 0.5 }), t([1, 2, 3, 4, 5], [5]), [v]);
    expect(values(g!)).toEqual([0, 2, 3, 4, 0]);
    const [none] = vjpWalk(clamp(v, { min: 1, max: 0 }), t([1, 2, 3, 4, 5], [5]), [v]);
    expect(values(none!)).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses no bounds, bounds that are not numbers and unknown options', () => {
    expect(() => clamp(x, {})).toThrow('clamp: give at least one of the bounds min and max');
    expect(() => clamp(x, { min: Number.NaN })).toThrow('clamp: min must be a number, got NaN');
    expect(() => clamp(x, { low: 0 } as never)).toThrow("clamp: unknown option 'low' (known options: min, max)");
  });
});
