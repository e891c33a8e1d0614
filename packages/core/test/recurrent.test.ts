/**
 * RNN, LSTM and ReduceTuple: the forward pass and final states against plain
 * loops (helpers/recurrent-reference.ts), every derivative against central
 * finite differences (dense Jacobians of the forward pass; for the products
 * with the residual Hessian, differences of the module's own gradients),
 * for one and two layers, batch-first and time-major, with and without
 * biases, and the errors.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Generator,
  LSTM,
  Linear,
  RNN,
  ReduceTuple,
  Sequential,
  extend,
  mul,
  reshape,
  tensor,
  tidy,
  transpose,
  type GraphNode,
  type RNNBase,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { expectClose } from './helpers/close.js';
import { matTimesJacobian, parameterJacobian, tensorJacobian } from './helpers/finite-differences.js';
import { flattenSequence, referenceForward } from './helpers/recurrent-reference.js';
import { randomTensor } from './helpers/tensors.js';

/** Finite differences of the forward pass (step 1e-6) are good to about 1e-9; 1e-7 leaves room for rounding. */
const FD_RTOL = 1e-7;
/** Closed forms against loops: rounding only. */
const EXACT_RTOL = 1e-12;
/** Step for differences of gradients (second derivatives). */
const SECOND_STEP = 1e-5;

type Cell = 'tanh' | 'relu' | 'lstm';

interface Variant {
  readonly name: string;
  readonly cell: Cell;
  readonly numLayers: number;
  readonly batchFirst: boolean;
  readonly bias: boolean;
}

const variants: readonly Variant[] = [
  { name: 'RNN tanh, batch-first', cell: 'tanh', numLayers: 1, batchFirst: true, bias: true },
  { name: 'RNN tanh, 2 layers, time-major, no bias', cell: 'tanh', numLayers: 2, batchFirst: false, bias: false },
  { name: 'RNN relu, 2 layers, time-major', cell: 'relu', numLayers: 2, batchFirst: false, bias: true },
  { name: 'LSTM, batch-first', cell: 'lstm', numLayers: 1, batchFirst: true, bias: true },
  { name: 'LSTM, 2 layers, batch-first, no bias', cell: 'lstm', numLayers: 2, batchFirst: true, bias: false },
  { name: 'LSTM, 2 layers, time-major', cell: 'lstm', numLayers: 2, batchFirst: false, bias: true },
];

const [BATCH, STEPS, INPUT, HIDDEN] = [2, 3, 3, 2];

function make(variant: Variant): RNNBase {
  const options = { numLayers: variant.numLayers, batchFirst: variant.batchFirst, bias: variant.bias, backend: cpu, dtype: 'float64' as const, generator: new Generator(7) };
  return variant.cell === 'lstm' ? new LSTM(INPUT, HIDDEN, options) : new RNN(INPUT, HIDDEN, { ...options, nonlinearity: variant.cell });
}

function inputFor(module: RNNBase, seed = 1): Tensor {
  return randomTensor(module.batchFirst ? [BATCH, STEPS, INPUT] : [STEPS, BATCH, INPUT], seed, { low: -1.5, high: 1.5 });
}

/** Extends the module and records a call. */
function record(module: RNNBase, x: Tensor): { node: GraphNode; output: Tensor } {
  extend(module);
  const output = module.forward(x);
  return { node: output.producer!, output };
}

/** Which sample each entry of a sequence tensor `[..., A, B, k]` (module layout, `leading` dimensions first) belongs to. */
function sampleMask(module: RNNBase, shape: readonly number[], leading: number, n: number): number[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const axis = leading + (module.batchFirst ? 0 : 1);
  return Array.from({ length: size }, (_, flat) => (Math.floor(flat / strides[axis]!) % shape[axis]! === n ? 1 : 0));
}

/** `mat` with the entries of every sample but n set to zero. */
function onlySample(module: RNNBase, mat: Tensor, n: number): Tensor {
  return mul(mat, tensor(sampleMask(module, mat.shape, 1, n), mat.shape, { backend: cpu, dtype: 'float64' }));
}

/** Stacks per-sample results `[V, ...rest]` into `[V, N, ...rest]`, flat. */
function stackSamples(perSample: readonly ArrayLike<number>[], v: number): number[] {
  const per = perSample[0]!.length / v;
  const out: number[] = [];
  for (let k = 0; k < v; k++) for (const sample of perSample) out.push(...Array.from(sample).slice(k * per, (k + 1) * per));
  return out;
}

describe.each(variants)('$name', (variant) => {
  it('forward pass and final states match plain loops', () => {
    const module = make(variant);
    const x = inputFor(module);
    const output = module.forward(x);
    const reference = referenceForward(module, variant.cell, x);
    expectClose(output, flattenSequence(module, reference.output), EXACT_RTOL, module.batchFirst ? [BATCH, STEPS, HIDDEN] : [STEPS, BATCH, HIDDEN]);
    const state = module.finalState(output);
    expectClose(state.h, reference.h.flat(2), EXACT_RTOL, [variant.numLayers, BATCH, HIDDEN]);
    if (variant.cell === 'lstm') expectClose(state.c!, reference.c!.flat(2), EXACT_RTOL, [variant.numLayers, BATCH, HIDDEN]);
    else expect(state.c).toBeUndefined();
  });

  it('has PyTorch\'s parameter names and shapes', () => {
    const module = make(variant);
    const rows = (variant.cell === 'lstm' ? 4 : 1) * HIDDEN;
    const expected = Array.from({ length: variant.numLayers }, (_, l) => [
      [`weight_ih_l${l}`, [rows, l === 0 ? INPUT : HIDDEN]],
      [`weight_hh_l${l}`, [rows, HIDDEN]],
      ...(variant.bias ? [[`bias_ih_l${l}`, [rows]], [`bias_hh_l${l}`, [rows]]] : []),
    ]).flat();
    expect(module.namedParameters().map(([name, p]) => [name, p.data.shape])).toEqual(expected);
    // PyTorch's initialisation: uniform in ±1/sqrt(hidden).
    for (const [, p] of module.namedParameters()) for (const value of p.data.toArray()) expect(Math.abs(value)).toBeLessThanOrEqual(1 / Math.sqrt(HIDDEN));
  });

  it.each([1, 3])('jacTMatProd matches the finite-difference Jacobian of the forward pass (V = %i)', (v) => {
    const module = make(variant);
    const x = inputFor(module);
    const { node, output } = record(module, x);
    const jacobian = tensorJacobian((z) => module.forward(z), x);
    const mat = randomTensor([v, ...output.shape], 100);
    expectClose(module.jacTMatProd(node, mat), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...x.shape]);
  });

  it.each([1, 3])('paramJacTMatProd matches finite differences, summed over the batch and per sample, and so do paramJacTMatProdSquares (V = %i)', (v) => {
    const module = make(variant);
    const x = inputFor(module);
    const { node, output } = record(module, x);
    const mat = randomTensor([v, ...output.shape], 200);
    for (const [name, parameter] of module.namedParameters()) {
      const jacobian = parameterJacobian(parameter, () => module.forward(x));
      const shape = parameter.data.shape;
      expectClose(module.paramJacTMatProd(node, name, mat, { sumBatch: true }), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...shape]);
      const perSample = Array.from({ length: BATCH }, (_, n) => matTimesJacobian(onlySample(module, mat, n).toArray(), jacobian));
      expectClose(module.paramJacTMatProd(node, name, mat, { sumBatch: false }), stackSamples(perSample, v), FD_RTOL, [v, BATCH, ...shape]);
      // Σ_v of the squares, per sample and summed over the batch.
      const size = parameter.data.size;
      const products = stackSamples(perSample, v); // [V, N, ...param], flat
      const squares = Array.from({ length: BATCH * size }, (_, i) => Array.from({ length: v }, (_, k) => products[k * BATCH * size + i]! ** 2).reduce((a, b) => a + b, 0));
      expectClose(module.paramJacTMatProdSquares(node, name, mat, { sumBatch: false }), squares, FD_RTOL, [BATCH, ...shape]);
      const summed = Array.from({ length: size }, (_, i) => squares.filter((_, j) => j % size === i).reduce((a, b) => a + b, 0));
      expectClose(module.paramJacTMatProdSquares(node, name, mat, { sumBatch: true }), summed, FD_RTOL, shape);
    }
  });

  describe('residualHessianProduct (Hessian of gᵀy) against differences of the gradients of gᵀy', () => {
    const v = 2;

    /** Per-sample gradients of gᵀy at the module's current parameters: the input's and every parameter's. */
    function gradients(module: RNNBase, x: Tensor, g: Tensor): Map<string, Float64Array> {
      const { node } = record(module, x);
      const mat = reshape(g, [1, ...g.shape]);
      const out = new Map([['input', Float64Array.from(module.jacTMatProd(node, mat).toArray())]]);
      for (const [name] of module.namedParameters()) out.set(name, Float64Array.from(module.paramJacTMatProd(node, name, mat, { sumBatch: false }).toArray()));
      return out;
    }

    /** Central differences of `gradients` along `step(ε)` (which perturbs and returns the input to use). */
    function differences(module: RNNBase, g: Tensor, step: (epsilon: number) => Tensor): Map<string, Float64Array> {
      const plus = gradients(module, step(SECOND_STEP), g);
      const minus = gradients(module, step(-SECOND_STEP), g);
      step(0);
      return new Map([...plus].map(([name, p]) => [name, p.map((value, i) => (value - minus.get(name)![i]!) / (2 * SECOND_STEP))]));
    }

    it('for input directions (one per sample) and for the directions of each parameter', () => {
      const module = make(variant);
      const x = inputFor(module);
      const { node, output } = record(module, x);
      const g = randomTensor(output.shape, 300);
      const names = module.namedParameters().map(([name]) => name);

      // Input directions: the product's input block, and each parameter's (the mixed second derivatives).
      const inputDirections = randomTensor([v, ...x.shape], 301);
      const byInput = module.residualHessianProduct(node, g, { input: inputDirections });
      const xValues = x.toArray();
      const columns = Array.from({ length: v }, (_, k) =>
        differences(module, g, (epsilon) => tensor(Array.from(xValues, (value, i) => value + epsilon * inputDirections.toArray()[k * xValues.length + i]!), x.shape, { backend: cpu, dtype: 'float64' })),
      );
      expectClose(byInput.input, columns.flatMap((c) => Array.from(c.get('input')!)), FD_RTOL, [v, ...x.shape]);
      for (const name of names) {
        const shape = module.parameter(name).data.shape;
        expectClose(byInput.parameters.get(name)!, columns.flatMap((c) => Array.from(c.get(name)!)), FD_RTOL, [v, BATCH, ...shape]);
      }

      for (const [seed, name] of names.entries()) {
        const parameter = module.parameter(name);
        const original = parameter.data;
        const directions = randomTensor([v, ...original.shape], 400 + seed);
        const products = module.residualHessianProduct(node, g, { parameters: new Map([[name, directions]]) });
        const perDirection = Array.from({ length: v }, (_, k) =>
          differences(module, g, (epsilon) => {
            const d = directions.toArray().slice(k * original.size, (k + 1) * original.size);
            parameter.data = tensor(Array.from(original.toArray(), (value, i) => value + epsilon * d[i]!), original.shape, { backend: cpu, dtype: 'float64' });
            return x;
          }),
        );
        parameter.data = original;
        expectClose(products.input, perDirection.flatMap((c) => Array.from(c.get('input')!)), FD_RTOL, [v, ...x.shape]);
        for (const other of names) {
          const shape = module.parameter(other).data.shape;
          expectClose(products.parameters.get(other)!, perDirection.flatMap((c) => Array.from(c.get(other)!)), FD_RTOL, [v, BATCH, ...shape]);
        }
      }
    });
  });
});

describe('RNN and LSTM', () => {
  it('a time-major module equals the batch-first one on the transposed input, derivatives included', () => {
    for (const cell of ['tanh', 'lstm'] as const) {
      const [timeMajor, batchFirst] = [false, true].map((first) => make({ name: '', cell, numLayers: 2, batchFirst: first, bias: true }));
      const x = inputFor(timeMajor!);
      const a = record(timeMajor!, x);
      const b = record(batchFirst!, transpose(x, 0, 1));
      expectClose(transpose(a.output, 0, 1), b.output.toArray(), EXACT_RTOL);
      const mat = randomTensor([2, ...a.output.shape], 5);
      const matBatchFirst = transpose(mat, 1, 2);
      expectClose(transpose(timeMajor!.jacTMatProd(a.node, mat), 1, 2), batchFirst!.jacTMatProd(b.node, matBatchFirst).toArray(), EXACT_RTOL);
      for (const [name] of timeMajor!.namedParameters()) {
        const options = { sumBatch: false };
        expectClose(timeMajor!.paramJacTMatProd(a.node, name, mat, options), batchFirst!.paramJacTMatProd(b.node, name, matBatchFirst, options).toArray(), EXACT_RTOL);
      }
    }
  });

  it('reuse backpropagation through time for the same mat, unless the weights changed or tidy disposed it', () => {
    const module = make({ name: '', cell: 'lstm', numLayers: 2, batchFirst: true, bias: true });
    const { node, output } = record(module, inputFor(module));
    const mat = randomTensor([2, ...output.shape], 9);
    // A new tensor with mat's entries: nothing computed for mat applies to it.
    const fresh = () => module.jacTMatProd(node, mul(mat, 1)).toArray();
    const before = tidy(() => module.jacTMatProd(node, mat));
    expect(module.paramJacTMatProd(node, 'weight_ih_l0', mat, { sumBatch: true }).toArray()).toEqual(
      module.paramJacTMatProd(node, 'weight_ih_l0', mul(mat, 1), { sumBatch: true }).toArray(),
    );
    const weight = module.parameter('weight_hh_l1');
    weight.data = mul(weight.data, 2);
    const after = module.jacTMatProd(node, mat).toArray();
    expect(after).toEqual(fresh());
    expect(after).not.toEqual(before.toArray());
  });

  it('fit a Sequential after ReduceTuple(0), with PyTorch\'s layer indices', () => {
    const generator = new Generator(3);
    const model = new Sequential(new RNN(3, 4, { backend: cpu, generator }), new ReduceTuple(0), new Linear(4, 2, { backend: cpu, generator }));
    expect(model.namedParameters().map(([name]) => name)).toEqual(['0.weight_ih_l0', '0.weight_hh_l0', '0.bias_ih_l0', '0.bias_hh_l0', '2.weight', '2.bias']);
    const y = model.forward(randomTensor([5, 2, 3], 1));
    expect(y.shape).toEqual([5, 2, 2]);
  });

  it('refuse bad arguments and inputs with messages naming the module and the numbers', () => {
    expect(() => new RNN(0, 4)).toThrow(/RNN: inputSize must be a positive integer, got 0/);
    expect(() => new LSTM(3, 2.5)).toThrow(/LSTM: hiddenSize must be a positive integer, got 2.5/);
    expect(() => new RNN(3, 4, { numLayers: 0 })).toThrow(/RNN: numLayers must be a positive integer, got 0/);
    expect(() => new RNN(3, 4, { nonlinearity: 'sigmoid' as 'tanh' })).toThrow(/RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'/);
    expect(() => new RNN(3, 4, { batch_first: true } as never)).toThrow(/RNN: unknown option 'batch_first' \(known options: numLayers, bias, batchFirst, backend, dtype, generator, nonlinearity\)/);
    expect(() => new LSTM(3, 4, { nonlinearity: 'relu' } as never)).toThrow(/LSTM: unknown option 'nonlinearity'/);
    const rnn = new RNN(3, 4, { backend: cpu, batchFirst: true });
    expect(() => rnn.forward(randomTensor([2, 5, 2], 1))).toThrow(/RNN: expects an input \[N, T, inputSize\] \(batchFirst\) with inputSize 3, got \[2, 5, 2\]/);
    expect(() => new LSTM(3, 4, { backend: cpu }).forward(randomTensor([2, 3], 1))).toThrow(/LSTM: expects an input of rank >= 3/);
    expect(() => rnn.forward(randomTensor([2, 0, 3], 1))).toThrow(/RNN: the input \[2, 0, 3\] has no time step/);
    expect(() => rnn.forward(randomTensor([2, 5, 3], 1), randomTensor([1, 2, 4], 2))).toThrow(/RNN: expects 1 input\(s\), got 2/);
    expect(() => rnn.finalState(randomTensor([2, 5, 4], 1))).toThrow(/RNN.finalState: the tensor of shape \[2, 5, 4\] is not an output of this module/);
  });

  it('refuse the generic residual diagonal and, time-major, the batch-averaged Jacobian product', () => {
    const module = make(variants[1]!);
    const { node, output } = record(module, inputFor(module));
    expect(() => module.residualHessianDiagonal()).toThrow(/couples the time steps and is not diagonal; use residualHessianProduct/);
    const d = output.size / BATCH;
    expect(() => module.eaJacTMatJacProd(node, randomTensor([d, d], 1))).toThrow(/eaJacTMatJacProd needs the batch in dimension 0; this module is time-major/);
  });

  it('residualHessianProduct checks its arguments', () => {
    const module = make(variants[0]!);
    const x = inputFor(module);
    const { node, output } = record(module, x);
    const g = randomTensor(output.shape, 1);
    expect(() => module.residualHessianProduct(node, g, {})).toThrow(/give at least one direction/);
    expect(() => module.residualHessianProduct(node, randomTensor([1, 2], 1), { input: randomTensor([1, ...x.shape], 1) })).toThrow(
      /gradOutput \[1, 2\] must have the output's shape \[2, 3, 2\]/,
    );
    expect(() =>
      module.residualHessianProduct(node, g, { input: randomTensor([2, ...x.shape], 1), parameters: new Map([['weight_hh_l0', randomTensor([3, 2, 2], 1)]]) }),
    ).toThrow(/the direction of 'weight_hh_l0' has shape \[3, 2, 2\], expected \[2, 2, 2\]/);
    expect(() => module.residualHessianProduct(node, g, { input: randomTensor([1, ...x.shape], 1) }, ['weight'])).toThrow(/RNN has no parameter 'weight'/);
  });
});

describe('ReduceTuple', () => {
  it('passes a recurrent output on and refuses anything else', () => {
    const rnn = new RNN(3, 2, { backend: cpu });
    const output = rnn.forward(randomTensor([4, 2, 3], 1));
    expectClose(new ReduceTuple().forward(output), output.toArray(), 0);
    expect(() => new ReduceTuple(0).forward(randomTensor([4, 2, 2], 1))).toThrow(
      /ReduceTuple: expects the output of a recurrent layer \(RNN, LSTM\) right before it, got a tensor of shape \[4, 2, 2\] that is not one/,
    );
  });

  it('refuses other indices when constructed, saying where the final states are', () => {
    expect(() => new ReduceTuple(1)).toThrow(/ReduceTuple\(1\): only index 0 \(the output\) is supported.*rnn.finalState\(output\)/);
  });
});
