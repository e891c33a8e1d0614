/**
 * Large recorded graphs: a chain of 20,000 layers and a fan of 20,000
 * branches build and backpropagate (the graph's ordering is linear in its
 * size, and iterative), with every gradient equal to a scalar computation
 * written out in plain JavaScript.
 */
import { describe, expect, it } from 'vitest';
import { Add, Linear, MSELoss, Module, Sequential, extend, type Tensor } from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { linear } from './helpers/models.js';
import { randomNumbers, t, values } from './helpers/tensors.js';

/** Float64 rounding over 20,000 sequential operations, far below any real error. */
const RTOL = 1e-10;
const SIZE = 20_000;

/** `Linear(1, 1)` layers with weights close to 1 (so a product of 20,000 stays finite) and small biases. */
function scalarLayers(count: number, seed: number): { layers: Linear[]; w: number[]; b: number[] } {
  const w = randomNumbers(count, seed, 0.9999, 1.0001);
  const b = randomNumbers(count, seed + 1, -0.01, 0.01);
  const layers = w.map((wk, k) => {
    const layer = linear(1, 1, k);
    layer.weight.data = t([wk], [1, 1]);
    layer.bias!.data = t([b[k]!], [1]);
    return layer;
  });
  return { layers, w, b };
}

const x = [0.5, -1.5];
const y = [0.25, 2];

/** d mean((out - y)²) / d out, per sample. */
const lossGradient = (out: number[]) => out.map((o, n) => (2 * (o - y[n]!)) / out.length);

const backward = (model: Module) => extend(new MSELoss()).forward(model.forward(t(x, [2, 1])), t(y, [2, 1])).backward();

// 20,000 layers take a few seconds on a loaded 2-core machine; vitest's 5 s default is too tight.
const SCALE_TEST_TIMEOUT_MS = 60_000;

describe('a recorded graph of 20,000 nodes', () => {
  it('a chain of 20,000 Linear layers', () => {
    const { layers, w, b } = scalarLayers(SIZE, 1);
    backward(extend(new Sequential(...layers)));

    // h_k = w_k h_{k-1} + b_k per sample; the gradient flows back through the weights.
    const inputs: number[][] = [];
    let h = [...x];
    for (let k = 0; k < SIZE; k++) {
      inputs.push(h);
      h = h.map((v) => w[k]! * v + b[k]!);
    }
    let g = lossGradient(h);
    for (let k = SIZE - 1; k >= 0; k--) {
      const [gw, gb] = [g.reduce((s, gn, n) => s + gn * inputs[k]![n]!, 0), g.reduce((s, gn) => s + gn, 0)];
      expectClose(layers[k]!.weight.grad!, [gw], RTOL, [1, 1]);
      expectClose(layers[k]!.bias!.grad!, [gb], RTOL, [1]);
      g = g.map((gn) => gn * w[k]!);
    }
  }, SCALE_TEST_TIMEOUT_MS);

  it('a fan: one tensor feeds 20,000 Linear branches, summed by one Add', () => {
    class Fan extends Module {
      readonly typeName = 'Fan';
      readonly stem = this.registerModule('stem', linear(1, 1, 0));
      readonly branches = scalarLayers(SIZE, 2);
      readonly sum = this.registerModule('sum', new Add());
      constructor() {
        super();
        this.branches.layers.forEach((layer, i) => this.registerModule(`branch${i}`, layer));
      }
      forward(input: Tensor): Tensor {
        const h = this.stem.forward(input);
        return this.sum.forward(...this.branches.layers.map((layer) => layer.forward(h)));
      }
    }
    const fan = new Fan();
    backward(extend(fan));

    const { w, b } = fan.branches;
    const [ws, bs] = [values(fan.stem.weight.data)[0]!, values(fan.stem.bias!.data)[0]!];
    const h = x.map((v) => ws * v + bs);
    const [sumW, sumB] = [w.reduce((s, v) => s + v, 0), b.reduce((s, v) => s + v, 0)];
    const g = lossGradient(h.map((v) => sumW * v + sumB));
    const [gh, gSum] = [g.reduce((s, gn, n) => s + gn * h[n]!, 0), g.reduce((s, gn) => s + gn, 0)];
    fan.branches.layers.forEach((layer) => {
      expectClose(layer.weight.grad!, [gh], RTOL, [1, 1]);
      expectClose(layer.bias!.grad!, [gSum], RTOL, [1]);
    });
    // The stem's output gets 20,000 contributions, one per branch: Σ_i w_i.
    expectClose(fan.stem.weight.grad!, [g.reduce((s, gn, n) => s + gn * sumW * x[n]!, 0)], RTOL, [1, 1]);
    expectClose(fan.stem.bias!.grad!, [gSum * sumW], RTOL, [1]);
    expect(fan.parameters()).toHaveLength(2 * SIZE + 2);
  }, SCALE_TEST_TIMEOUT_MS);
});
