/**
 * Who owns what a backward pass stores: the parameter owns `.grad` and the
 * extension fields, the next pass replaces them (disposing the previous
 * tensors) and `zeroGrad()` disposes `.grad`. A replaced tensor used later
 * fails with an error naming who disposed it; `clone()` keeps a copy that
 * survives. Also `backpack()` and `backward()` with a single extension.
 */
import { describe, expect, it } from 'vitest';
import { EXTENSIONS } from '@backpack-ts/catalog';
import { CrossEntropyLoss, Sequential, Tanh, add, backpack, extend, sum, type Parameter, type Tensor } from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

/** Linear '0' (3 -> 4), Tanh, Linear '2' (4 -> 2), CrossEntropyLoss on 5 samples. */
function problem() {
  const model = extend(new Sequential(linear(3, 4, 1), new Tanh(), linear(4, 2, 2)));
  const lossFunction = extend(new CrossEntropyLoss());
  const input = randomTensor([5, 3], 3);
  const target = t([0, 1, 1, 0, 1], [5], 'int32');
  return { model, loss: () => lossFunction.forward(model.forward(input), target) };
}

const batchGrad = () => EXTENSIONS.get('BatchGrad')!.create();
const gradBatchOf = (parameter: Parameter): Tensor => (parameter as unknown as Record<string, Tensor>)['gradBatch']!;

describe('one extension, not in a list', () => {
  it('backpack(extension, fn) and backward({ extensions: extension }) store its quantity, the per-sample gradients summing to .grad', () => {
    for (const run of [
      (loss: Tensor) => backpack(batchGrad(), () => loss.backward()),
      (loss: Tensor) => loss.backward({ extensions: batchGrad() }),
    ]) {
      const { model, loss } = problem();
      run(loss());
      for (const parameter of model.parameters()) {
        const perSample = gradBatchOf(parameter);
        expect(perSample.shape).toEqual([5, ...parameter.data.shape]);
        expectClose(sum(perSample, 0), values(parameter.grad!), 1e-12);
      }
    }
  });
});

describe('a quantity held across passes', () => {
  it('is disposed by the pass that replaces it, and a later use names that pass, the field and the extension', () => {
    const { model, loss } = problem();
    backpack(batchGrad(), () => loss().backward());
    const weight = model.parameters()[0]!;
    const held = gradBatchOf(weight);
    const heldGrad = weight.grad!;
    backpack(batchGrad(), () => loss().backward());
    expect(held.isDisposed).toBe(true);
    expect(() => held.toArray()).toThrow(
      "toArray: the tensor of shape [5, 4, 3] was disposed by the backward pass that replaced 'gradBatch' (BatchGrad) of parameter 'weight' of Linear '0' " +
        '(call clone() on a quantity to keep it across passes)',
    );
    expect(() => add(held, 1)).toThrow("add: the tensor of shape [5, 4, 3] was disposed by the backward pass that replaced 'gradBatch' (BatchGrad)");
    expect(() => heldGrad.toArray()).toThrow(
      "toArray: the tensor of shape [4, 3] was disposed by the backward pass that accumulated into the .grad of parameter 'weight' of Linear '0' " +
        '(call clone() on a gradient to keep it)',
    );
  });

  it('is disposed with .grad by zeroGrad(), which a later use names', () => {
    const { model, loss } = problem();
    loss().backward();
    const grad = model.parameters()[3]!.grad!;
    model.zeroGrad();
    expect(() => grad.toArray()).toThrow('toArray: the tensor of shape [2] was disposed by zeroGrad() of Sequential (call clone() on a gradient to keep it)');
  });

  it('survives as a clone, with the values of its pass', () => {
    const { model, loss } = problem();
    backpack(batchGrad(), () => loss().backward());
    const weight = model.parameters()[2]!;
    const first = values(gradBatchOf(weight));
    const kept = gradBatchOf(weight).clone();
    const keptGrad = weight.grad!.clone();
    const gradValues = values(weight.grad!);
    // A second pass on the same data: .grad doubles, the per-sample gradients are recomputed.
    backpack(batchGrad(), () => loss().backward());
    model.zeroGrad();
    expect(values(kept)).toEqual(first);
    expect(values(keptGrad)).toEqual(gradValues);
    expect(values(gradBatchOf(weight))).toEqual(first);
  });
});
