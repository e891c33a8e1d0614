/**
 * `jvp()` (forward mode over the recorded graph) through graphs that mix
 * module calls and plain ops, against dense Jacobians built column by column
 * by central finite differences of the forward pass.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  MaxPool2d,
  Sigmoid,
  add,
  grad,
  jvp,
  mul,
  square,
  sum,
  tanh,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { parameterJacobian, tensorJacobian, type Jacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t } from './helpers/tensors.js';

/** Central differences with h = 1e-6 are good to about 1e-9 here; 1e-7 leaves room for rounding only. */
const FD_RTOL = 1e-7;

/** `Σ_i J_i v_i` for V tangents per input (`tangents[i]` is `[V, ...input_i]`): `[V, rows]`, flat. */
function sumOfProducts(jacobians: readonly Jacobian[], tangents: readonly Tensor[]): Float64Array {
  const rows = jacobians[0]!.rows;
  const v = tangents[0]!.shape[0]!;
  const out = new Float64Array(v * rows);
  jacobians.forEach(({ cols, data }, i) => {
    const m = tangents[i]!.toArray();
    for (let k = 0; k < v; k++) {
      for (let r = 0; r < rows; r++) {
        let total = 0;
        for (let c = 0; c < cols; c++) total += data[r * cols + c]! * m[k * cols + c]!;
        out[k * rows + r] += total;
      }
    }
  });
  return out;
}

/** A linear layer, plain ops, a second linear layer, and a scalar made of ops on its output. */
function mixedModel() {
  const first = linear(3, 4, 1);
  const activation = new Sigmoid();
  const second = linear(4, 2, 2);
  const x = randomTensor([5, 3], 3);
  const forward = (input: Tensor) => {
    const h = first.forward(input);
    const z = add(mul(tanh(h), 0.5), activation.forward(h)); // a tensor used by an op and a module
    const y = second.forward(square(z));
    return { h, z, y, scalar: sum(mul(y, y)) };
  };
  return { first, second, x, forward };
}

describe('jvp() through modules and ops', () => {
  it.each([false, true])('w.r.t. an input and parameters of both layers matches finite differences (batched: %s)', (batched) => {
    const { first, second, x, forward } = mixedModel();
    x.requiresGrad_();
    const { y, scalar } = forward(x);
    const inputs = [x, first.weight.data, second.bias!.data];
    const v = batched ? 2 : 1;
    const tangents = inputs.map((input, i) => randomTensor([v, ...input.shape], 10 + i));
    const given = batched ? tangents : tangents.map((tangent) => t(tangent.toArray(), tangent.shape.slice(1)));
    const [dy, dScalar] = jvp([y, scalar], inputs, given, { batched });
    expect(dy!.shape).toEqual(batched ? [v, ...y.shape] : y.shape);
    expect(dScalar!.shape).toEqual(batched ? [v] : []);

    const parameters: Parameter[] = [first.weight, second.bias!];
    const jacobians = (pick: (out: ReturnType<typeof forward>) => Tensor) => [
      tensorJacobian((input) => pick(forward(input)), x),
      ...parameters.map((parameter) => parameterJacobian(parameter, () => pick(forward(x)))),
    ];
    expectClose(dy!, sumOfProducts(jacobians((out) => out.y), tangents), FD_RTOL);
    expectClose(dScalar!, sumOfProducts(jacobians((out) => out.scalar), tangents), FD_RTOL);
  });

  it('from an intermediate tensor (a module output that ops consume)', () => {
    const { x, forward, second } = mixedModel();
    const { h, y } = forward(x);
    const tangent = randomTensor(h.shape, 20);
    const [dy] = jvp(y, h, tangent);
    // The part of the model after h, as a function of h.
    const after = (hh: Tensor) => second.forward(square(add(mul(tanh(hh), 0.5), new Sigmoid().forward(hh))));
    const jacobian = tensorJacobian(after, h);
    expectClose(dy!, sumOfProducts([jacobian], [t(tangent.toArray(), [1, ...h.shape])]), FD_RTOL, y.shape);
  });

  it('gives zeros for an output that does not depend on the inputs, and the tangent for an input that is an output', () => {
    const { first, second, x, forward } = mixedModel();
    const { y } = forward(x);
    const tangent = randomTensor(first.bias!.data.shape, 21);
    const other = sum(square(second.weight.data));
    const [dOther, dBias] = jvp([other, first.bias!.data], first.bias!.data, tangent);
    expect(Array.from(dOther!.toArray())).toEqual([0]);
    expect(dBias).not.toBe(tangent);
    expect(Array.from(dBias!.toArray())).toEqual(Array.from(tangent.toArray()));
    expect(jvp(y, first.bias!.data, tangent)[0]!.shape).toEqual(y.shape);
  });

  it('through a convolutional network and a loss matches finite differences', () => {
    const conv = new Conv2d(1, 2, 3, { padding: 1, backend: cpu, generator: new Generator(4) });
    const pool = new MaxPool2d(2);
    const head = linear(8, 3, 5);
    const lossModule = new CrossEntropyLoss('sum');
    const x = randomTensor([2, 1, 4, 4], 6);
    const target = t([2, 0], [2], 'int32');
    const forward = () => lossModule.forward(head.forward(new Flatten().forward(pool.forward(conv.forward(x)))), target);
    const loss = forward();
    const parameters = [conv.weight, conv.bias!, head.weight];
    const tangents = parameters.map((p, i) => randomTensor([3, ...p.data.shape], 30 + i));
    const [dLoss] = jvp(loss, parameters.map((p) => p.data), tangents, { batched: true });
    const jacobians = parameters.map((parameter) => parameterJacobian(parameter, forward));
    expectClose(dLoss!, sumOfProducts(jacobians, tangents), FD_RTOL, [3]);
  });

  it('with createGraph, the product can be differentiated again (forward-over-reverse check against finite differences)', () => {
    const { first, x, forward } = mixedModel();
    x.requiresGrad_();
    const tangent = randomTensor(first.weight.data.shape, 40);
    const u = randomTensor([5, 2], 41);
    // <u, J_W(x) v> as a function of x, by jvp without recording at perturbed inputs.
    const pairing = (input: Tensor) => sum(mul(u, jvp(forward(input).y, first.weight.data, tangent)[0]!));
    const [dx] = grad(sum(mul(u, jvp(forward(x).y, first.weight.data, tangent, { createGraph: true })[0]!)), x);
    expectClose(dx!, tensorJacobian(pairing, x).data, FD_RTOL, x.shape);
  });
});

describe('jvp() errors', () => {
  it('refuses unknown options, a tangent that does not fit, and an input that requires no gradients', () => {
    const { x, forward, first } = mixedModel();
    const { y } = forward(x);
    const w = first.weight.data;
    expect(() => jvp(y, w, randomTensor(w.shape, 1), { batch: true } as never)).toThrow(/jvp\(\): unknown option 'batch' \(known options: batched, createGraph\)/);
    expect(() => jvp(y, w, randomTensor([2, 3], 1))).toThrow(/jvp\(\): tangent 0 is float64 \[2, 3\] on 'cpu', but input 0 is float64 \[4, 3\]/);
    expect(() => jvp(y, [w, first.bias!.data], [randomTensor([2, ...w.shape], 1), randomTensor([3, 4], 1)], { batched: true })).toThrow(
      /tangent 1 is float64 \[3, 4\].*one V \(here 2\)/,
    );
    expect(() => jvp(y, [w], [])).toThrow(/jvp\(\): 0 tangents for 1 inputs/);
    expect(() => jvp(y, x, randomTensor(x.shape, 1))).toThrow(/jvp\(\): input 0 \(shape \[5, 3\]\) does not require gradients/);
  });

  it('refuses a graph a backward pass freed, naming the node', () => {
    const { forward, x, first } = mixedModel();
    const { scalar } = forward(x);
    scalar.backward();
    expect(() => jvp(scalar, first.weight.data, randomTensor(first.weight.data.shape, 1))).toThrow(/jvp\(\): trying to backward through the graph a second time/);
  });
});
