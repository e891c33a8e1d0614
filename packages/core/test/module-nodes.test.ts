/**
 * A module call is one node of the graph, recorded whenever an input or a
 * parameter requires gradients (extended or not, never under `noGrad`), and
 * parameters are leaves that require gradients: frozen ones get nothing and
 * cost nothing, replaced data becomes the parameter's leaf, and a gradient
 * reaching a parameter's data through an op lands on `parameter.grad`.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Generator,
  LeafModule,
  Linear,
  Sequential,
  Tanh,
  backpack,
  isOpNode,
  noGrad,
  type GraphNode,
  type ParameterJacobianOptions,
  type Tensor,
} from '@backpack-ts/core';
import { EXTENSIONS } from '@backpack-ts/catalog';
import { recordedOps } from '@backpack-ts/conformance';
import { expectClose } from './helpers/close.js';
import { parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

const FD_RTOL = 1e-7;

/** A Linear that counts its parameter-Jacobian products by parameter name. */
class CountingLinear extends Linear {
  readonly calls = new Map<string, number>();
  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    return super.paramJacTMatProd(node, name, mat, options);
  }
}

function problem() {
  const first = new CountingLinear(4, 5, { backend: cpu, generator: new Generator(1) });
  const model = new Sequential(first, new Tanh(), linear(5, 3, 2));
  const lossFunction = new CrossEntropyLoss();
  const input = randomTensor([6, 4], 1);
  const target = t([0, 2, 1, 1, 0, 2], [6], 'int32');
  return { first, model, loss: () => lossFunction.forward(model.forward(input), target) };
}

describe('module calls', () => {
  it('are recorded without extend(), as one node per call, and the loss backpropagates to every parameter', () => {
    const { model, loss } = problem();
    const output = loss();
    const node = output.producer!;
    expect(node.kind).toBe('module');
    expect(output.gradFn).toBe(node);
    expect(node.module).toBeInstanceOf(CrossEntropyLoss);
    expect(node.input.producer!.module).toBeInstanceOf(Linear);
    output.backward();
    for (const parameter of model.parameters()) {
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  });

  it('are not recorded under noGrad(), nor when nothing requires gradients', () => {
    const { loss, model } = problem();
    expect(noGrad(loss).gradFn).toBeUndefined();
    for (const parameter of model.parameters()) parameter.requiresGrad = false;
    expect(loss().requiresGrad).toBe(false);
  });

  it('a module whose compute returns its input is refused, naming it', () => {
    class Passthrough extends LeafModule {
      readonly typeName = 'Passthrough';
      protected checkInputs(): void {}
      protected compute(inputs: readonly Tensor[]): Tensor {
        return inputs[0]!;
      }
      jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
        return mat;
      }
    }
    expect(() => new Passthrough().forward(randomTensor([2], 1).requiresGrad_())).toThrow(
      'Passthrough: compute() returned one of its inputs or parameters; return a new tensor (e.g. reshape(x, x.shape))',
    );
  });

  it('record the ops they run inside (so their saved tensors stay connected), named after the module', () => {
    const x = randomTensor([2, 3], 2).requiresGrad_();
    class Squares extends LeafModule {
      readonly typeName = 'Squares';
      protected checkInputs(): void {}
      protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
        saved['square'] = recordedOps.square(inputs[0]!);
        return recordedOps.scale(saved['square'], 1);
      }
      jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
        return recordedOps.mul(mat, recordedOps.scale(node.input, 2));
      }
    }
    const node = new Squares().forward(x).producer!;
    const squareNode = node.saved['square']!.gradFn;
    expect(isOpNode(squareNode)).toBe(true);
    expect(isOpNode(squareNode) && squareNode.calledIn?.owner).toBe(node.module);
  });
});

describe('parameters', () => {
  it('require gradients; a frozen one gets no .grad, no quantity, and no derivative is computed for it', () => {
    const { first, model, loss } = problem();
    first.weight.requiresGrad = false;
    expect(first.weight.data.requiresGrad).toBe(false);
    backpack([EXTENSIONS.get('BatchGrad')!.create(), EXTENSIONS.get('DiagGGNExact')!.create()], () => loss().backward());
    expect(first.weight.grad).toBeUndefined();
    expect(first.weight.gradBatch).toBeUndefined();
    expect(first.weight.diagGgnExact).toBeUndefined();
    expect(first.calls.get('weight')).toBeUndefined();
    for (const parameter of model.parameters().filter((p) => p !== first.weight)) {
      expect(parameter.grad).toBeDefined();
      expect(parameter.gradBatch).toBeDefined();
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  });

  it('keep the frozen flag when their data is replaced (assignment, loadStateDict)', () => {
    const { first, model } = problem();
    first.weight.requiresGrad = false;
    first.weight.data = randomTensor([5, 4], 3);
    expect(first.weight.data.requiresGrad).toBe(false);
    model.loadStateDict({ '0.weight': randomTensor([5, 4], 4), '0.bias': randomTensor([5], 5) });
    expect(first.weight.data.requiresGrad).toBe(false);
    expect(first.bias!.data.requiresGrad).toBe(true);
  });

  it('adopt assigned data as their leaf, also a value computed by recorded ops (an optimizer step)', () => {
    const { first } = problem();
    const stepped = recordedOps.scale(first.weight.data, 0.5);
    expect(stepped.gradFn).toBeDefined();
    first.weight.data = stepped;
    expect(first.weight.data).toBe(stepped);
    expect(stepped.gradFn).toBeUndefined();
    expect(stepped.requiresGrad).toBe(true);
    expect(first.weight.version).toBe(1);
  });

  it('given another parameter\'s data get a handle of their own, so freezing one leaves the other alone', () => {
    const [a, b] = [linear(2, 2, 1), linear(2, 2, 2)];
    b.weight.data = a.weight.data;
    expect(b.weight.data).not.toBe(a.weight.data);
    expect(values(b.weight.data)).toEqual(values(a.weight.data));
    b.weight.requiresGrad = false;
    expect(a.weight.data.requiresGrad).toBe(true);
  });

  it('collect gradients that reach their data through ops', () => {
    const layer = linear(3, 2, 1);
    const x = randomTensor([4, 3], 2);
    const decayed = () => recordedOps.add(recordedOps.sum(recordedOps.square(layer.forward(x))), recordedOps.sum(recordedOps.square(layer.weight.data)));
    decayed().backward();
    expectClose(layer.weight.grad!, parameterJacobian(layer.weight, decayed).data, FD_RTOL, [2, 3]);
    expect(layer.weight.data.grad).toBeUndefined();
  });

  it('used by an op and replaced before the backward pass: refused, nothing stored', () => {
    const layer = linear(3, 2, 1);
    const loss = recordedOps.sum(recordedOps.square(layer.weight.data));
    layer.weight.data = randomTensor([2, 3], 3);
    expect(() => loss.backward()).toThrow(
      "backward(): input 0 of op 'square' (called outside any module) is data of a parameter that was replaced after the forward pass (now at version 1); " +
        'run the forward pass again after changing the model',
    );
    expect(layer.weight.grad).toBeUndefined();
  });
});
