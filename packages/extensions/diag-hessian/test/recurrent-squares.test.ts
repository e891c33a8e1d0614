/**
 * The recurrent rule's parameter diagonals from `paramJacTMatProdSquares`
 * (Gram matrices over time, columns split by sign) against the squares of
 * the `[V, N, ...param]` products (`parameterDiagonal`), on the factors that
 * reach RNN and LSTM layers: the loss's (no signs), an activation's residual
 * (per-sample signs), a downstream recurrent layer's input residual (±1
 * columns), in both layouts, summed and per sample. The tolerance 1e-12 is
 * checked to reject a 1e-6 relative perturbation.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Flatten,
  Generator,
  LSTM,
  LeafModule,
  MSELoss,
  RNN,
  RNNBase,
  ReduceTuple,
  Sequential,
  Tanh,
  backpack,
  extend,
  mul,
  transpose,
  type GraphNode,
  type LossModule,
  type Tensor,
} from '@backpack-ts/core';
import { compareArrays, type CompareReport } from '@backpack-ts/conformance';
import { describe, expect, it } from 'vitest';
import { BatchDiagHessian, DiagHessian, parameterDiagonal, recurrentHessianRule, type HessianRule } from '../src/index.js';
import { recurrentParameterSquares } from '../src/recurrent-rules.js';
import { classTargets, linear, randomTensor } from './helpers/models.js';

const options = (seed: number, batchFirst: boolean) => ({ batchFirst, backend: cpu, dtype: 'float64' as const, generator: new Generator(seed) });

/** Time-major `[T, N, ...]` to batch-first `[N, T, ...]` after a time-major layer. */
class BatchToFront extends LeafModule {
  readonly typeName = 'BatchToFront';

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1 || inputs[0]!.rank < 2) throw new RangeError(`${this.describe()}: expects one input of rank >= 2`);
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return transpose(inputs[0]!, 0, 1);
  }

  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return transpose(mat, 1, 2);
  }
}

interface Case {
  readonly name: string;
  readonly model: Sequential;
  readonly loss: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
}

const cases: readonly (() => Case)[] = [
  () => ({
    name: 'LSTM (batch-first), Tanh, Flatten, Linear, CrossEntropyLoss',
    model: new Sequential(new LSTM(3, 4, options(1, true)), new ReduceTuple(0), new Tanh(), new Flatten(), linear(12, 3, 2)),
    loss: new CrossEntropyLoss(),
    input: randomTensor([3, 3, 3], 3, 1.5),
    target: classTargets([2, 0, 1]),
  }),
  () => ({
    name: '2-layer LSTM (time-major, no bias), LSTM, Tanh, Linear, MSELoss (sum)',
    model: new Sequential(
      new LSTM(2, 3, { ...options(4, false), numLayers: 2, bias: false }),
      new ReduceTuple(0),
      new LSTM(3, 2, options(5, false)),
      new BatchToFront(),
      new Tanh(),
      linear(2, 2, 6),
    ),
    loss: new MSELoss('sum'),
    input: randomTensor([4, 3, 2], 7, 1.5),
    target: randomTensor([3, 4, 2], 8),
  }),
  () => ({
    name: 'tanh RNN (batch-first, 2 layers), RNN, Flatten, Linear, CrossEntropyLoss',
    model: new Sequential(new RNN(2, 3, { ...options(9, true), numLayers: 2 }), new ReduceTuple(0), new RNN(3, 3, options(10, true)), new ReduceTuple(0), new Flatten(), linear(9, 3, 11)),
    loss: new CrossEntropyLoss(),
    input: randomTensor([2, 3, 2], 12, 1.5),
    target: classTargets([1, 2]),
  }),
];

function report(a: Tensor, b: Tensor, label: string): CompareReport {
  return compareArrays({ shape: a.shape, data: a.toArray() }, { shape: b.shape, data: b.toArray() }, { tolerance: 1e-12, label });
}

describe.each(cases.map((make) => [make().name, make] as const))('%s', (_name, make) => {
  it.each([DiagHessian, BatchDiagHessian])('%o: recurrentParameterSquares equals the squares of the parameter products', (Extension) => {
    const { model, loss, input, target } = make();
    const reports: CompareReport[] = [];
    const perturbed: CompareReport[] = [];
    let signedFactors = 0;
    const checking: HessianRule = {
      backpropagate: recurrentHessianRule.backpropagate,
      parameters: (node, factors, context) => {
        const sumBatch = context.extension.sumBatch;
        signedFactors += factors.filter((factor) => factor.signs !== undefined).length;
        for (const [name, squares] of recurrentParameterSquares(node, factors, { sumBatch })) {
          const reference = parameterDiagonal(node, name, factors, { sumBatch });
          const label = `${node.module.describe()} ${name} ${context.extension.name}`;
          reports.push(report(squares, reference, label));
          perturbed.push(report(squares, mul(reference, 1 + 1e-6), label));
        }
        return recurrentHessianRule.parameters!(node, factors, context);
      },
    };
    const extension = new Extension().setModuleRule(RNNBase, checking);
    backpack([extension], () => extend(loss).forward(extend(model).forward(input), target).backward());
    expect(reports.length).toBeGreaterThan(0);
    expect(signedFactors).toBeGreaterThan(0);
    expect(reports.filter((r) => !r.ok).map((r) => r.message)).toEqual([]);
    expect(perturbed.every((r) => !r.ok)).toBe(true);
  });
});
