/**
 * Bad input gives a clear error and changes nothing: after each refusal the
 * parameters and their `.grad` are the same tensor objects with the same
 * values as before.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Flatten,
  MSELoss,
  ReLU,
  RuleBasedExtension,
  Sequential,
  UnsupportedModuleError,
  add,
  backpack,
  extend,
  noGrad,
  tensor,
  type Extension,
  type GraphNode,
  type Tensor,
} from '@backpack-ts/core';
import { wrapBackend } from './helpers/backends.js';
import { linear, snapshot, type ParameterSnapshot } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

/** Flatten, Linear '1' (6 -> 3), ReLU, Linear '3' (3 -> 2), on inputs [5, 2, 3]. */
function makeModel() {
  return extend(new Sequential(new Flatten(), linear(6, 3, 1), new ReLU(), linear(3, 2, 2)));
}

let model: ReturnType<typeof makeModel>;
let lossFunction: CrossEntropyLoss;
const input = () => randomTensor([5, 2, 3], 1, { minAbs: 0.01 });
const targets = () => t([0, 1, 1, 0, 1], [5], 'int32');
/** The state after one good backward pass, which every refusal must leave alone. */
let before: ParameterSnapshot[];

beforeEach(() => {
  model = makeModel();
  lossFunction = extend(new CrossEntropyLoss());
  lossFunction.forward(model.forward(input()), targets()).backward();
  before = snapshot(model.parameters());
  expect(before.every((p) => p.grad !== undefined)).toBe(true);
});

function expectUnchanged(): void {
  for (const { parameter, data, grad, dataValues, gradValues } of before) {
    expect(parameter.data).toBe(data);
    expect(parameter.grad).toBe(grad);
    expect(values(parameter.data)).toEqual(dataValues);
    expect(parameter.grad === undefined ? undefined : values(parameter.grad)).toEqual(gradValues);
  }
}

/** An extension without default rules whose `check` looks its rule up, as real extensions do. */
class NoRulesExtension extends RuleBasedExtension<() => Tensor> {
  readonly name = 'NoRulesExtension';
  readonly savefield = 'noRules';
  constructor() {
    super([]);
  }
  check(node: GraphNode): void {
    this.requireRule(node.module);
  }
  begin() {
    return { visit: () => undefined };
  }
}

describe('shape mismatch at a Linear layer', () => {
  it("names the module (Linear '1'), the input shape and both feature counts", () => {
    const wrong = randomTensor([5, 2, 4], 1);
    expect(() => model.forward(wrong)).toThrow(RangeError);
    expect(() => model.forward(wrong)).toThrow(
      "Linear '1': input of shape [5, 8] has 8 features in its last dimension, but the layer expects 6 (weight [3, 6])",
    );
    expectUnchanged();
  });

  it('a Flatten whose startDim comes after its endDim names the module', () => {
    const bad = extend(new Sequential(new Flatten(2, 1)));
    expect(() => bad.forward(input())).toThrow(/Flatten '0': startDim 2 comes after endDim 1 for an input of shape \[5, 2, 3\]/);
  });
});

describe('CrossEntropyLoss targets', () => {
  const logits = () => model.forward(input());

  it('an index out of range names its position and value', () => {
    const outOfRange = t([0, 1, 2, 0, 1], [5], 'int32');
    expect(() => lossFunction.forward(logits(), outOfRange)).toThrow('CrossEntropyLoss: target[2] = 2 is not a class index in [0, 2)');
    const negative = t([0, 1, 1, -1, 1], [5], 'int32');
    expect(() => lossFunction.forward(logits(), negative)).toThrow('target[3] = -1 is not a class index in [0, 2)');
    expectUnchanged();
  });

  it('float targets are refused with a dtype error', () => {
    const floats = t([0, 1, 1, 0, 1], [5]);
    expect(() => lossFunction.forward(logits(), floats)).toThrow(TypeError);
    expect(() => lossFunction.forward(logits(), floats)).toThrow(/targets must be int32 class indices, got float64/);
    expectUnchanged();
  });

  it('non-integer int32 targets cannot be created', () => {
    expect(() => tensor([1.5], [1], { backend: cpu, dtype: 'int32' })).toThrow(/int32 data must be integers, got 1.5 at index 0/);
    expectUnchanged();
  });

  it('a target of the wrong length names both shapes', () => {
    expect(() => lossFunction.forward(logits(), t([0, 1], [2], 'int32'))).toThrow(
      /target of shape \[2\] does not fit logits \[5, 2\]; expected \[5\]/,
    );
    expectUnchanged();
  });
});

describe('backward', () => {
  it('twice on one recorded forward pass is refused', () => {
    const loss = lossFunction.forward(model.forward(input()), targets());
    loss.backward();
    const afterFirst = snapshot(model.parameters());
    expect(() => loss.backward()).toThrow(
      'backward(): trying to backward through the graph a second time (through CrossEntropyLoss), but the previous backward pass freed it; ' +
        'pass retainGraph: true to that backward() or grad() to backward through the graph again, or run the forward pass again',
    );
    before = afterFirst;
    expectUnchanged();
  });

  it('from a loss computed under noGrad() is refused, saying why it requires no gradient', () => {
    const loss = noGrad(() => lossFunction.forward(model.forward(input()), targets()));
    expect(loss.requiresGrad).toBe(false);
    expect(() => loss.backward()).toThrow(
      'backward(): the tensor of shape [] does not require gradients: nothing it was computed from does ' +
        '(parameters do unless frozen with requiresGrad = false; other tensors opt in with requiresGrad_()), or it was computed under noGrad()',
    );
    expectUnchanged();
  });

  it('from a tensor that is not a scalar is refused unless given its gradient', () => {
    expect(() => model.forward(input()).backward()).toThrow(
      'backward(): a gradient can be created implicitly only for a one-element output, got shape [5, 2]; ' +
        'pass gradient (the gradient w.r.t. it) or reduce it to a scalar loss first',
    );
    expect(() => model.forward(input()).backward({ gradient: t([1, 2], [2]) })).toThrow(
      "backward(): gradient is float64 [2] on 'cpu', but the output is float64 [5, 2] on 'cpu'",
    );
    expectUnchanged();
  });
});

describe('extensions', () => {
  it('without a rule for a module: names the extension and the module, changes nothing', () => {
    const extension = new NoRulesExtension();
    const loss = lossFunction.forward(model.forward(input()), targets());
    const attempt = () => backpack([extension], () => loss.backward());
    expect(attempt).toThrow(UnsupportedModuleError);
    expect(attempt).toThrow(/^NoRulesExtension has no rule for CrossEntropyLoss \(module type CrossEntropyLoss\)/);
    expectUnchanged();
    for (const parameter of model.parameters()) expect('noRules' in parameter).toBe(false);
  });

  it('names the first module in backward order that lacks a rule', () => {
    const extension = new NoRulesExtension();
    extension.setModuleRule(CrossEntropyLoss, () => t([0], [1]));
    const loss = lossFunction.forward(model.forward(input()), targets());
    expect(() => loss.backward({ extensions: [extension] })).toThrow(/NoRulesExtension has no rule for Linear '3'/);
    expectUnchanged();
  });

  it('a refused pass leaves the recorded graph usable', () => {
    const loss = lossFunction.forward(model.forward(input()), targets());
    expect(() => backpack([new NoRulesExtension()], () => loss.backward())).toThrow(UnsupportedModuleError);
    loss.backward();
    before.forEach(({ parameter, gradValues }) => {
      expect(values(parameter.grad!)).toEqual(gradValues!.map((g) => 2 * g));
    });
  });

  it('two extensions saving to the same field are refused', () => {
    const loss = lossFunction.forward(model.forward(input()), targets());
    const acceptingAll = (name: string): Extension => ({
      name,
      savefield: 'shared',
      check: () => undefined,
      begin: () => ({ visit: () => undefined }),
    });
    const both = [acceptingAll('First'), acceptingAll('Second')];
    expect(() => backpack(both, () => loss.backward())).toThrow("backpack(): two extensions save to 'shared' (First and Second); pass each extension once, or give one another savefield");
    expectUnchanged();
  });
});

describe('tensors of two different backends in one op', () => {
  const other = wrapBackend(cpu, 'cpu-twin');

  it('are refused, naming both backends', () => {
    const [a, b] = [t([1, 2], [2]), tensor([3, 4], [2], { backend: other })];
    expect(values(b)).toEqual([3, 4]);
    expect(() => add(a, b)).toThrow("add: tensors live on different backends ('cpu' and 'cpu-twin'); move them to one backend first");
    expectUnchanged();
  });

  it('are refused inside a model, which stays unchanged', () => {
    const foreign = tensor(values(input()), [5, 2, 3], { backend: other });
    expect(() => model.forward(foreign)).toThrow(
      "Linear '1': the input is float64 on 'cpu-twin', but parameter 'weight' is float64 on 'cpu'; inputs and parameters must live on one backend",
    );
    expectUnchanged();
  });
});

describe('NaN in the input', () => {
  it('propagates, as in PyTorch: the loss and every gradient entry are NaN, nothing throws', () => {
    model.zeroGrad();
    const x = values(input());
    x[4] = Number.NaN;
    const loss = lossFunction.forward(model.forward(t(x, [5, 2, 3])), targets());
    expect(() => loss.backward()).not.toThrow();
    expect(loss.item()).toBeNaN();
    for (const [name, parameter] of model.namedParameters()) {
      expect(values(parameter.grad!).every(Number.isNaN), name).toBe(true);
    }
  });

  it('propagates through MSELoss as well', () => {
    const mse = extend(new MSELoss());
    const target = randomTensor([5, 2], 2);
    const prediction = model.forward(input());
    const loss = mse.forward(prediction, t(values(target).map((v, i) => (i === 0 ? Number.NaN : v)), [5, 2]));
    expect(loss.item()).toBeNaN();
  });
});
