/**
 * `.grad` from `loss.backward()` against finite differences of the scalar
 * loss, for a plain MLP, a residual network (a DAG with a branch point),
 * weight sharing, and accumulation across backward passes.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Add,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  type GraphNode,
  MSELoss,
  Module,
  Sequential,
  Sigmoid,
  Tanh,
  extend,
  type LossModule,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

/** Finite differences of the loss (h = 1e-6) are good to about 1e-9 relative here. */
const FD_RTOL = 1e-7;

/** A model and loss with fixed data: everything a backward test needs. */
interface Problem {
  readonly model: Module;
  readonly lossFunction: LossModule;
  readonly input: Tensor;
  readonly target: Tensor;
}

function lossOf({ model, lossFunction, input, target }: Problem): Tensor {
  return lossFunction.forward(model.forward(input), target);
}

/** Runs one backward pass and checks every parameter's `.grad` against finite differences of the loss. */
function expectGradientsMatchFiniteDifferences(problem: Problem): void {
  lossOf(problem).backward();
  for (const [name, parameter] of problem.model.namedParameters()) {
    const numeric = parameterJacobian(parameter, () => lossOf(problem));
    expect(parameter.grad, name).toBeDefined();
    expectClose(parameter.grad!, numeric.data, FD_RTOL, parameter.data.shape);
  }
}

/** Linear, Tanh, Linear with CrossEntropyLoss on 6 samples of 4 features and 3 classes. */
function mlpProblem(): Problem {
  return {
    model: extend(new Sequential(linear(4, 5, 1), new Tanh(), linear(5, 3, 2))),
    lossFunction: extend(new CrossEntropyLoss()),
    input: randomTensor([6, 4], 1),
    target: t([0, 2, 1, 1, 0, 2], [6], 'int32'),
  };
}

/** `head(h + body(h))` with `h = stem(x)`: `h` feeds two modules, so its gradient is a sum. */
class ResidualNetwork extends Module {
  readonly typeName = 'ResidualNetwork';
  readonly stem = this.registerModule('stem', linear(3, 4, 1));
  readonly body = this.registerModule('body', new Sequential(linear(4, 4, 2), new Sigmoid(), linear(4, 4, 3)));
  readonly add = this.registerModule('add', new Add());
  readonly head = this.registerModule('head', linear(4, 2, 4));

  forward(x: Tensor): Tensor {
    const h = this.stem.forward(x);
    return this.head.forward(this.add.forward(h, this.body.forward(h)));
  }
}

function residualProblem(): Problem {
  return {
    model: extend(new ResidualNetwork()),
    lossFunction: extend(new MSELoss()),
    input: randomTensor([5, 3], 1),
    target: randomTensor([5, 2], 2),
  };
}

/** One Linear applied twice: `head(tanh(shared(tanh(shared(x)))))`. */
class SharedWeights extends Module {
  readonly typeName = 'SharedWeights';
  readonly shared = this.registerModule('shared', linear(3, 3, 1));
  readonly act = this.registerModule('act', new Tanh());
  readonly head = this.registerModule('head', linear(3, 2, 2));

  forward(x: Tensor): Tensor {
    const once = this.act.forward(this.shared.forward(x));
    return this.head.forward(this.act.forward(this.shared.forward(once)));
  }
}

describe('backward fills .grad with the gradient of the loss', () => {
  it('MLP: Linear, Tanh, Linear, CrossEntropyLoss', () => {
    expectGradientsMatchFiniteDifferences(mlpProblem());
  });

  it('MLP with a sum-reduced loss and a batch of one', () => {
    const problem = { ...mlpProblem(), lossFunction: extend(new CrossEntropyLoss('sum')), input: randomTensor([1, 4], 3), target: t([2], [1], 'int32') };
    expectGradientsMatchFiniteDifferences(problem);
  });

  it('residual network (custom Module with Add and a branch point)', () => {
    expectGradientsMatchFiniteDifferences(residualProblem());
  });

  it('weight sharing: one Linear applied twice in one forward pass', () => {
    expectGradientsMatchFiniteDifferences({
      model: extend(new SharedWeights()),
      lossFunction: extend(new CrossEntropyLoss()),
      input: randomTensor([4, 3], 1),
      target: t([1, 0, 0, 1], [4], 'int32'),
    });
  });

  it('weight sharing inside a Sequential: the same module at two positions', () => {
    const shared = linear(3, 3, 1);
    expectGradientsMatchFiniteDifferences({
      model: extend(new Sequential(shared, new Tanh(), shared)),
      lossFunction: extend(new MSELoss('sum')),
      input: randomTensor([4, 3], 1),
      target: randomTensor([4, 3], 2),
    });
  });

  it('the input tensor itself feeding two modules', () => {
    // add(x, body(x)): the data tensor is a branch point without a producer.
    class InputResidual extends Module {
      readonly typeName = 'InputResidual';
      readonly body = this.registerModule('body', new Sequential(linear(3, 3, 1), new Sigmoid(), linear(3, 3, 2)));
      readonly add = this.registerModule('add', new Add());
      forward(x: Tensor): Tensor {
        return this.add.forward(x, this.body.forward(x));
      }
    }
    expectGradientsMatchFiniteDifferences({
      model: extend(new InputResidual()),
      lossFunction: extend(new MSELoss()),
      input: randomTensor([4, 3], 1),
      target: randomTensor([4, 3], 2),
    });
  });

  it('a target computed by another extended model gets no gradient and does not break the pass', () => {
    const teacher = extend(linear(3, 2, 9));
    const student = { ...residualProblem(), input: randomTensor([5, 3], 1) };
    const target = teacher.forward(student.input);
    const problem = { ...student, target };
    expectGradientsMatchFiniteDifferences(problem);
    expect(teacher.weight.grad).toBeUndefined();
    expect(teacher.bias!.grad).toBeUndefined();
  });
});

describe('backpropagation stops where no parameter is upstream', () => {
  /** A Linear that counts how often its input Jacobian is applied. */
  class CountingLinear extends Linear {
    inputJacobianCalls = 0;
    override jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
      this.inputJacobianCalls += 1;
      return super.jacTMatProd(node, mat);
    }
  }
  const countingLinear = (inFeatures: number, outFeatures: number, seed: number) =>
    new CountingLinear(inFeatures, outFeatures, { backend: cpu, generator: new Generator(seed) });
  const target = () => t([0, 2, 1, 1], [4], 'int32');

  it('the first layer behind a parameter-free module (Flatten) computes no input gradient', () => {
    const first = countingLinear(12, 3, 1);
    const model = extend(new Sequential(new Flatten(), first));
    extend(new CrossEntropyLoss()).forward(model.forward(randomTensor([4, 3, 4], 2)), target()).backward();
    expect(first.inputJacobianCalls).toBe(0);
    expect(model.parameters().every((p) => p.grad !== undefined)).toBe(true);
  });

  it('a layer behind another layer does compute it', () => {
    const second = countingLinear(4, 3, 4);
    const model = extend(new Sequential(new Flatten(), countingLinear(12, 4, 3), new Tanh(), second));
    extend(new CrossEntropyLoss()).forward(model.forward(randomTensor([4, 3, 4], 5)), target()).backward();
    expect(second.inputJacobianCalls).toBe(1);
  });
});

describe('.grad accumulates like PyTorch', () => {
  it('sums over two backward passes of two forward passes, and zeroGrad() resets it', () => {
    const problem = mlpProblem();
    lossOf(problem).backward();
    const once = problem.model.namedParameters().map(([name, p]) => [name, values(p.grad!)] as const);
    lossOf(problem).backward();
    for (const [name, parameter] of problem.model.namedParameters()) {
      const first = once.find(([n]) => n === name)![1];
      expectClose(parameter.grad!, first.map((g) => 2 * g), 1e-14, parameter.data.shape);
    }
    problem.model.zeroGrad();
    for (const parameter of problem.model.parameters()) expect(parameter.grad).toBeUndefined();
    lossOf(problem).backward();
    for (const [name, parameter] of problem.model.namedParameters()) {
      expectClose(parameter.grad!, once.find(([n]) => n === name)![1], 1e-14);
    }
  });
});

describe('parameter names follow PyTorch', () => {
  it('Sequential children are numbered', () => {
    const { model } = mlpProblem();
    expect(model.namedParameters().map(([name]) => name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
  });

  it('nested modules use dotted paths, in registration order', () => {
    expect(new ResidualNetwork().namedParameters().map(([name]) => name)).toEqual([
      'stem.weight',
      'stem.bias',
      'body.0.weight',
      'body.0.bias',
      'body.2.weight',
      'body.2.bias',
      'head.weight',
      'head.bias',
    ]);
  });

  it('a shared parameter is listed once, under its first name', () => {
    const shared = linear(2, 2, 1);
    const model = new Sequential(shared, new Tanh(), shared);
    expect(model.namedParameters().map(([name]) => name)).toEqual(['0.weight', '0.bias']);
    expect(model.parameters()).toEqual([shared.weight, shared.bias]);
  });

  it('extend() names every module by its path, for messages', () => {
    const model = extend(new ResidualNetwork());
    expect(model.namedModules().map(([name, m]) => [name, m.describe()])).toEqual([
      ['', 'ResidualNetwork'],
      ['stem', "Linear 'stem'"],
      ['body', "Sequential 'body'"],
      ['body.0', "Linear 'body.0'"],
      ['body.1', "Sigmoid 'body.1'"],
      ['body.2', "Linear 'body.2'"],
      ['add', "Add 'add'"],
      ['head', "Linear 'head'"],
    ]);
  });
});
