/**
 * Five things a new user tries (issue 14), each now working, checked
 * against finite differences of the loss. Ops between modules are the
 * conformance package's test ops (written with `recordOp`); the same cases
 * with core's own ops are in `functional-forms.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { CrossEntropyLoss, Module, Sequential, Tanh, extend, grad, type Tensor } from '@backpack-ts/core';
import { recordedOps } from '@backpack-ts/conformance';
import { expectClose } from './helpers/close.js';
import { numericJacobian, parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomNumbers, randomTensor, t, values } from './helpers/tensors.js';

const FD_RTOL = 1e-7;
const { add, mul, relu, reshape, square, sub, sum, tanh } = recordedOps;

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
        const h = relu(this.first.forward(reshape(x, [x.shape[0]!, 6])));
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
    const [wData, xData] = [randomNumbers(6, 9), randomNumbers(6, 10, -2, 2)];
    const [w, x] = [t(wData, [2, 3]).requiresGrad_(), t(xData, [2, 3])];
    const loss = sum(square(tanh(mul(w, x))));
    // A gradient penalty: the squared norm of the gradient, differentiated again.
    const [g] = grad(loss, [w], { createGraph: true, retainGraph: true });
    // Its graph runs through the forward pass's nodes too: keep them for the passes below.
    const [penaltyGradient] = grad(sum(square(g!)), [w], { retainGraph: true });
    const penalty = (v: ArrayLike<number>) => [
      Array.from(v).reduce((total, vi, i) => {
        const th = Math.tanh(vi * xData[i]!);
        return total + (2 * th * (1 - th * th) * xData[i]!) ** 2;
      }, 0),
    ];
    expectClose(penaltyGradient!, numericJacobian(penalty, wData).data, FD_RTOL, [2, 3]);

    loss.backward({ retainGraph: true });
    const once = values(w.grad!);
    loss.backward();
    expectClose(w.grad!, once.map((v) => 2 * v), 1e-14, [2, 3]);
  });
});
