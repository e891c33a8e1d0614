/**
 * Frozen parameters (`requiresGrad = false`, PyTorch's `requires_grad_(False)`):
 * no `.grad`, the other parameters' gradients unchanged, and no backward
 * work for modules whose parameters are all frozen with nothing trainable
 * before them.
 */
import { describe, expect, it } from 'vitest';
import { CrossEntropyLoss, Sequential, Tanh, extend, tensor, type Tensor } from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { linear } from './helpers/models.js';
import { randomTensor } from './helpers/tensors.js';

function problem() {
  const model = extend(new Sequential(linear(4, 5, 1), new Tanh(), linear(5, 3, 2)));
  const lossFunction = extend(new CrossEntropyLoss());
  const input = randomTensor([6, 4], 3);
  const target = tensor([0, 2, 1, 1, 0, 2], [6], { backend: cpu, dtype: 'int32' });
  return { model, run: () => lossFunction.forward(model.forward(input), target).backward() };
}

const values = (t: Tensor | undefined) => Array.from(t!.toArray());

describe('frozen parameters', () => {
  it('are trainable by default', () => {
    expect(problem().model.parameters().every((p) => p.requiresGrad)).toBe(true);
  });

  it('get no .grad; the others get the gradient they get without freezing', () => {
    const reference = problem();
    reference.run();
    const frozen = problem();
    const [w0, b0, w2, b2] = frozen.model.parameters();
    w0!.requiresGrad = false;
    b2!.requiresGrad = false;
    frozen.run();
    expect(w0!.grad).toBeUndefined();
    expect(b2!.grad).toBeUndefined();
    const [, rb0, rw2] = reference.model.parameters();
    expect(values(b0!.grad)).toEqual(values(rb0!.grad));
    expect(values(w2!.grad)).toEqual(values(rw2!.grad));
  });

  it('cost no work: a module with only frozen parameters and nothing trainable before it is left out of the walk', () => {
    const { model, run } = problem();
    for (const parameter of model.layers[0]!.parameters()) parameter.requiresGrad = false;
    const calls: string[] = [];
    for (const layer of [model.layers[0]!, model.layers[1]!] as unknown as Record<string, (...args: unknown[]) => Tensor>[]) {
      for (const method of ['jacTMatProd', 'paramJacTMatProd']) {
        const original = layer[method]!;
        layer[method] = (...args: unknown[]) => {
          calls.push(`${(layer as unknown as { typeName: string }).typeName}.${method}`);
          return original.apply(layer, args);
        };
      }
    }
    run();
    expect(calls).toEqual([]);
    expect(model.parameters().map((p) => p.grad === undefined)).toEqual([true, true, false, false]);
  });

  it('all frozen: backward() refuses, as there is nothing to differentiate', () => {
    const { model, run } = problem();
    for (const parameter of model.parameters()) parameter.requiresGrad = false;
    expect(run).toThrow(
      'backward(): the tensor of shape [] does not require gradients: nothing it was computed from does ' +
        '(parameters do unless frozen with requiresGrad = false; other tensors opt in with requiresGrad_()), or it was computed under noGrad()',
    );
  });
});
