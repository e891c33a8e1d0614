/**
 * Gradients through convolutions where ORT's native Conv kernels would run
 * (float32, thresholds at 0): the kernels have no derivative rules, so a
 * recorded call must take core's unfold path. Checked against the same
 * computation on backend-cpu in float64: the functional `conv` op's input and
 * weight gradients, and a Hessian-vector product through a Conv2d module by
 * double backward.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Conv2d,
  Generator,
  conv,
  grad,
  mul,
  sum,
  tanh,
  tensor,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { afterAll, describe, expect, it } from 'vitest';
import { OrtBackend } from '../src/index.js';

const ort = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
afterAll(() => ort.release());

const window = { kernel: [2, 2], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
const xValues = Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => Math.sin(1.3 * i));
const wValues = Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => Math.cos(0.7 * i));
const vValues = Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => Math.sin(0.3 * i + 1));

function values(t: Tensor | undefined): number[] {
  if (t === undefined) throw new Error('no gradient');
  return Array.from(t.toArray() as ArrayLike<number>);
}

/** Largest difference relative to the largest entry of the reference. */
function relativeError(actual: number[], expected: number[]): number {
  const scale = Math.max(...expected.map(Math.abs));
  return Math.max(...actual.map((a, i) => Math.abs(a - expected[i]!))) / scale;
}

function functionalGradients(backend: Backend, dtype: FloatDType): number[][] {
  const x = tensor(xValues, [2, 2, 3, 3], { backend, dtype }).requiresGrad_();
  const w = tensor(wValues, [3, 2, 2, 2], { backend, dtype }).requiresGrad_();
  const y = sum(mul(tanh(conv(x, w, window).output), conv(x, w, window).output));
  return grad(y, [x, w]).map(values);
}

function convHessianVectorProduct(backend: Backend, dtype: FloatDType): number[] {
  const layer = new Conv2d(2, 3, 2, { padding: 1, backend, dtype, generator: new Generator(0) });
  layer.weight.data = tensor(wValues, [3, 2, 2, 2], { backend, dtype });
  const x = tensor(xValues, [2, 2, 3, 3], { backend, dtype });
  const loss = sum(mul(tanh(layer.forward(x)), layer.forward(x)));
  const [g] = grad(loss, [layer.weight.data], { createGraph: true });
  const [hv] = grad(sum(mul(g!, tensor(vValues, [3, 2, 2, 2], { backend, dtype }))), [layer.weight.data]);
  return values(hv);
}

describe('gradients through convolutions that ORT could run natively', () => {
  it('the functional conv op records itself: input and weight gradients equal backend-cpu float64', () => {
    const expected = functionalGradients(cpu, 'float64');
    const actual = functionalGradients(ort, 'float32');
    expect(relativeError(actual[0]!, expected[0]!)).toBeLessThan(1e-4);
    expect(relativeError(actual[1]!, expected[1]!)).toBeLessThan(1e-4);
  });

  it('a Hessian-vector product through Conv2d by double backward equals backend-cpu float64', () => {
    const expected = convHessianVectorProduct(cpu, 'float64');
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0);
    expect(relativeError(convHessianVectorProduct(ort, 'float32'), expected)).toBeLessThan(1e-4);
  });
});
