/**
 * Five things a new user tries (issue 14), each now working, checked
 * against finite differences: core's ops between modules, a model not
 * extended, a child module not registered, a loss written with ops, and
 * derivatives of derivatives and a retained graph.
 */
import { describe, expect, it } from 'vitest';
import { CrossEntropyLoss, Module, Sequential, Tanh, add, extend, flatten, grad, relu, square, sub, sum, type Tensor } from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import { parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

const FD_RTOL = 1e-7;

const target = () => t([0, 2, 1, 1], [4], 'int32');

/** Runs `loss().backward()` and checks the `.grad` of every given parameter holder against finite differences. */
function expectGradients(modules: readonly Module[], loss: () => Tensor): void {
  loss().backward();
  for (const module of modules) {
    for (const [name, parameter] of module.namedParameters()) {
      expect(parameter.grad, name).toBeDefined();
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  }
}

describe('tried as a new user would', () => {
  it('1. a custom module whose forward calls relu, add and a flatten directly: the layers before them get their gradients', () => {
    class Net extends Module {
      readonly typeName = 'Net';
      readonly first = this.registerModule('first', linear(6, 4, 1));
      readonly second = this.registerModule('second', linear(4, 4, 2));
      readonly head = this.registerModule('head', linear(4, 3, 3));
      forward(x: Tensor): Tensor {
        const h = relu(this.first.forward(flatten(x, 1)));
        return this.head.forward(add(h, relu(this.second.forward(h))));
      }
    }
    const net = new Net();
    const x = randomTensor([4, 2, 3], 4);
    expectGradients([net], () => new CrossEntropyLoss().forward(net.forward(x), target()));
  });

  it('2. a model not passed through extend(), with an extended loss', () => {
    const model = new Sequential(linear(3, 4, 1), new Tanh(), linear(4, 3, 2));
    const lossFunction = extend(new CrossEntropyLoss());
    const x = randomTensor([4, 3], 5);
    expectGradients([model], () => lossFunction.forward(model.forward(x), target()));
  });

  it('3. a child module kept in a field without registerModule still gets its gradient (it is not among the parameters())', () => {
    class Net extends Module {
      readonly typeName = 'Net';
      readonly registered = this.registerModule('registered', linear(3, 4, 1));
      readonly unregistered = linear(4, 3, 2);
      forward(x: Tensor): Tensor {
        return this.unregistered.forward(this.registered.forward(x));
      }
    }
    const net = new Net();
    const x = randomTensor([4, 3], 6);
    expectGradients([net, net.unregistered], () => new CrossEntropyLoss().forward(net.forward(x), target()));
    expect(net.parameters()).not.toContain(net.unregistered.weight);
  });

  it('4. a loss that is not a loss module (a sum of squares written with ops)', () => {
    const model = new Sequential(linear(3, 4, 1), new Tanh(), linear(4, 2, 2));
    const [x, y] = [randomTensor([4, 3], 7), randomTensor([4, 2], 8)];
    expectGradients([model], () => sum(square(sub(model.forward(x), y))));
  });

  it('5. derivatives of derivatives (createGraph) and a second pass through one graph (retainGraph)', () => {
    const model = new Sequential(linear(3, 4, 1), new Tanh(), linear(4, 3, 2));
    const lossFunction = new CrossEntropyLoss();
    const x = randomTensor([4, 3], 9);
    const loss = () => lossFunction.forward(model.forward(x), target());
    const first = model.parameters()[0]!;
    // A gradient penalty: the squared norm of the gradient, differentiated w.r.t. the first weight.
    const penalty = (createGraph: boolean) => {
      const gradients = grad(loss(), model.parameters().map((p) => p.data), { createGraph });
      return gradients.map((g) => sum(square(g!))).reduce((a, b) => add(a, b));
    };
    const [penaltyGradient] = grad(penalty(true), [first.data]);
    expectClose(penaltyGradient!, parameterJacobian(first, () => penalty(false)).data, FD_RTOL, first.data.shape);

    const recorded = loss();
    recorded.backward({ retainGraph: true });
    const once = values(first.grad!);
    recorded.backward();
    expectClose(first.grad!, once.map((g) => 2 * g), 1e-14, first.data.shape);
  });
});
