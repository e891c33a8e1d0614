/**
 * `backward()` refuses, before anything changes, a pass whose recording no
 * longer matches the model (a parameter replaced, a recorded tensor
 * disposed) or whose results could not be stored (a disposed or mismatched
 * `.grad`): after each refusal every parameter's `.grad` and extension field
 * is the same tensor with the same values as before. Calls that would
 * silently compute nothing (a loss that requires no gradient, or reaches
 * none through its differentiable input; an async `backpack()` callback)
 * are errors.
 */
import { describe, expect, it } from 'vitest';
import {
  CrossEntropyLoss,
  Flatten,
  MSELoss,
  ReLU,
  Sequential,
  Tanh,
  add,
  backpack,
  extend,
  reshape,
  tidy,
  type Extension,
  type GraphNode,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

/** Finite differences of the loss (h = 1e-6) are good to about 1e-9 relative here. */
const FD_RTOL = 1e-7;

/** Linear '0' (4 -> 5), Tanh, Linear '2' (5 -> 3), CrossEntropyLoss on 6 samples. */
function problem() {
  const model = extend(new Sequential(linear(4, 5, 1), new Tanh(), linear(5, 3, 2)));
  const lossFunction = extend(new CrossEntropyLoss());
  const input = randomTensor([6, 4], 1);
  const target = t([0, 2, 1, 1, 0, 2], [6], 'int32');
  return { model, lossFunction, input, target, loss: () => lossFunction.forward(model.forward(input), target) };
}

/** An extension storing each parameter's gradient under `gradCopy`: something besides `.grad` that a pass writes. */
const gradCopy: Extension = {
  name: 'GradCopy',
  savefield: 'gradCopy',
  check: () => undefined,
  begin: () => ({
    visit: (node: GraphNode, gradOutput: Tensor) => {
      const mat = reshape(gradOutput, [1, ...gradOutput.shape]);
      return new Map(
        node.module.ownNamedParameters().map(([name, parameter]) => {
          return [name, reshape(node.module.paramJacTMatProd(node, name, mat, { sumBatch: true }), parameter.data.shape)];
        }),
      );
    },
  }),
};

const field = (parameter: Parameter): Tensor | undefined => (parameter as unknown as Record<string, Tensor | undefined>)['gradCopy'];

/** Every parameter's `.grad` and `gradCopy`: the tensor objects and their values, unless disposed. */
function results(parameters: readonly Parameter[]) {
  const read = (x: Tensor | undefined) => (x === undefined || x.isDisposed ? undefined : values(x));
  return parameters.map((p) => ({ grad: p.grad, gradValues: read(p.grad), copy: field(p), copyValues: read(field(p)) }));
}

describe('a parameter replaced between the forward and the backward pass', () => {
  it('by loadStateDict: refused, naming the module, the parameter and both versions', () => {
    const { model, loss } = problem();
    const weight = model.parameters()[0]!;
    expect(weight.version).toBe(0);
    const recorded = loss();
    model.loadStateDict({ '0.weight': randomTensor([5, 4], 9) });
    expect(weight.version).toBe(1);
    expect(() => recorded.backward()).toThrow(
      "backward(): parameter 'weight' of Linear '0' was replaced after the forward pass (version 0 when recorded, 1 now); " +
        'run the forward pass again after changing the model',
    );
    expect(model.parameters().every((p) => p.grad === undefined)).toBe(true);
  });

  it('a new forward pass gives the gradient of the new weights', () => {
    const { model, loss } = problem();
    const stale = loss();
    model.loadStateDict({ '0.weight': randomTensor([5, 4], 9), '2.bias': randomTensor([3], 10) });
    expect(() => stale.backward()).toThrow(/was replaced after the forward pass/);
    loss().backward();
    for (const [name, parameter] of model.namedParameters()) {
      expect(parameter.version, name).toBe(name === '0.weight' || name === '2.bias' ? 1 : 0);
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  });

  it('by assigning .data (an optimizer step): refused with the versions, nothing stored', () => {
    const { model, loss } = problem();
    loss().backward({ extensions: [gradCopy] });
    const before = results(model.parameters());
    const recorded = loss();
    const bias = new Map(model.namedParameters()).get('2.bias')!;
    bias.data = add(bias.data, 1);
    bias.data = add(bias.data, 1);
    expect(() => recorded.backward({ extensions: [gradCopy] })).toThrow(
      "backward(): parameter 'bias' of Linear '2' was replaced after the forward pass (version 0 when recorded, 2 now)",
    );
    expect(results(model.parameters())).toEqual(before);
  });
});

describe('a recorded tensor disposed before the backward pass', () => {
  it('a tidy around the forward pass alone: refused, naming the module and the tensor', () => {
    const { model, lossFunction, input, target } = problem();
    const loss = tidy(() => lossFunction.forward(model.forward(input), target));
    expect(() => loss.backward()).toThrow(
      'backward(): the input 0 of CrossEntropyLoss (shape [6, 3]) was disposed after the forward pass; ' +
        'keep the tensors of a forward pass until its backward() has run (one tidy around both)',
    );
    expect(model.parameters().every((p) => p.grad === undefined)).toBe(true);
  });

  it('a tensor a module saved for its derivatives', () => {
    const { model, lossFunction, input, target } = problem();
    const loss = lossFunction.forward(model.forward(input), target);
    loss.producer!.saved['probs']!.dispose();
    expect(() => loss.backward()).toThrow("backward(): the saved tensor 'probs' of CrossEntropyLoss (shape [6, 3]) was disposed");
  });
});

describe('a .grad the new gradient cannot be added to', () => {
  /** One good pass with `.grad` and `gradCopy` on every parameter, then a fresh forward pass. */
  function afterOnePass() {
    const p = problem();
    backpack([gradCopy], () => p.loss().backward());
    return { ...p, parameters: p.model.parameters(), recorded: p.loss() };
  }

  it('disposed on the first layer (stored last): refused before the last layer stores anything', () => {
    const { parameters, recorded } = afterOnePass();
    parameters[0]!.grad!.dispose();
    const before = results(parameters);
    expect(() => backpack([gradCopy], () => recorded.backward())).toThrow(
      "backward(): the .grad of parameter 'weight' of Linear '0' was disposed; set it to undefined (or call zeroGrad()) before the backward pass",
    );
    expect(results(parameters)).toEqual(before);
    // Nothing was consumed either: after clearing the gradients the same recording runs.
    for (const parameter of parameters) parameter.grad = undefined;
    backpack([gradCopy], () => recorded.backward());
    for (const parameter of parameters) expect(values(parameter.grad!)).toEqual(values(field(parameter)!));
  });

  it('of another shape or dtype: refused, naming both', () => {
    const { parameters, recorded } = afterOnePass();
    parameters[2]!.grad = t([1, 2, 3], [3]);
    const before = results(parameters);
    expect(() => recorded.backward({ extensions: [gradCopy] })).toThrow(
      "backward(): the .grad of parameter 'weight' of Linear '2' is float64 [3] on 'cpu', but the gradient to add is float64 [3, 5] on 'cpu'; " +
        'call zeroGrad() before the backward pass',
    );
    parameters[2]!.grad = t(new Array(15).fill(0), [3, 5], 'float32');
    expect(() => recorded.backward({ extensions: [gradCopy] })).toThrow(/is float32 \[3, 5\] on 'cpu', but the gradient to add is float64 \[3, 5\]/);
    parameters[2]!.grad = before[2]!.grad;
    expect(results(parameters)).toEqual(before);
  });
});

describe('a pass that would reach no parameter', () => {
  it('a model without parameters on data that requires no gradient: refused, saying what would', () => {
    const { lossFunction, target } = problem();
    const model = extend(new Sequential(new Flatten(), new ReLU()));
    expect(() => lossFunction.forward(model.forward(randomTensor([6, 3, 1], 3)), target).backward()).toThrow(
      'backward(): the tensor of shape [] does not require gradients: nothing it was computed from does ' +
        '(parameters do unless frozen with requiresGrad = false; other tensors opt in with requiresGrad_()), or it was computed under noGrad()',
    );
  });

  it('a loss whose target alone requires gradients: refused, since the target gets none', () => {
    const { model, input } = problem();
    const loss = extend(new MSELoss()).forward(randomTensor([6, 3], 4), model.forward(input));
    expect(loss.requiresGrad).toBe(true);
    expect(() => loss.backward()).toThrow(
      'backward(): no tensor that requires gradients is reached from MSELoss through differentiable inputs (a loss differentiates its prediction, not its target)',
    );
    expect(model.parameters().every((p) => p.grad === undefined)).toBe(true);
  });
});

describe('backpack() with an async callback', () => {
  it('throws, saying the callback must be synchronous, and leaves no extension active', async () => {
    const { model, loss } = problem();
    const recorded = loss();
    let resume: () => void = () => undefined;
    const later = new Promise<void>((resolve) => (resume = resolve));
    const callback = async () => {
      await later;
      recorded.backward();
    };
    expect(() => backpack([gradCopy], callback)).toThrow(
      'backpack(): the callback returned a Promise, but it must be synchronous: the extensions are active only until it returns, ' +
        'so a backward() after an await would compute none of them; call loss.backward() directly inside the callback',
    );
    // The backward pass after the await runs without the extension: the context was closed.
    resume();
    await later;
    await Promise.resolve();
    for (const parameter of model.parameters()) {
      expect(parameter.grad).toBeDefined();
      expect(field(parameter)).toBeUndefined();
    }
  });

  it('a rejecting callback gives the same error and no unhandled rejection', () => {
    expect(() => backpack([gradCopy], () => Promise.reject(new Error('inside')))).toThrow(/the callback returned a Promise/);
  });
});
