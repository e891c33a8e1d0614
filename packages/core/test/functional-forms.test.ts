/**
 * Functional and module forms agree, with core's own ops between modules: a
 * ResNet basic block written with `add(x, block(x))` and `relu(...)` gives
 * every quantity of the 15 extensions equal (float64, 1e-12) to the same
 * block with `Add` and `ReLU` modules; a curved op (`tanh`) passes the
 * first-order, GGN and Kronecker extensions and is refused by the Hessian
 * ones; a loss written with ops gives `.grad` and the first-order quantities
 * of its loss module; ops between modules and a loss carry `.grad`.
 */
import { describe, expect, it } from 'vitest';
import {
  Add,
  BatchNorm2d,
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  MSELoss,
  Module,
  ReLU,
  Sequential,
  Tanh,
  add,
  backpack,
  flatten,
  mean,
  mul,
  relu,
  square,
  sub,
  tanh,
  type Tensor,
} from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { EXTENSIONS } from '@backpack-ts/catalog';
import { expectClose } from './helpers/close.js';
import { extensionQuantities, expectSameQuantities } from './helpers/extension-quantities.js';
import { parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t } from './helpers/tensors.js';

/** The two forms compute the same numbers, in a different order of operations at most. */
const SAME_RTOL = 1e-12;
const FD_RTOL = 1e-7;
const FIRST_ORDER = ['BatchGrad', 'Variance', 'SumGradSquared', 'BatchL2Grad'];

const conv = (inChannels: number, outChannels: number, seed: number) =>
  new Conv2d(inChannels, outChannels, 3, { padding: 1, backend: cpu, generator: new Generator(seed) });

/** BatchNorm2d in evaluation mode with random statistics and affine parameters. */
function batchNorm(channels: number, seed: number): BatchNorm2d {
  const module = new BatchNorm2d(channels, { backend: cpu });
  module.loadStateDict({
    weight: randomTensor([channels], seed, { low: 0.5, high: 2 }),
    bias: randomTensor([channels], seed + 1),
    running_mean: randomTensor([channels], seed + 2),
    running_var: randomTensor([channels], seed + 3, { low: 0.5, high: 2 }),
  });
  return module.eval();
}

/** ResNet's basic block: `relu(x + bn2(conv2(relu(bn1(conv1(x))))))`, the sum and activations as ops or as modules. */
class BasicBlock extends Module {
  readonly typeName = 'BasicBlock';
  readonly conv1 = this.registerModule('conv1', conv(2, 2, 1));
  readonly bn1 = this.registerModule('bn1', batchNorm(2, 10));
  readonly conv2 = this.registerModule('conv2', conv(2, 2, 2));
  readonly bn2 = this.registerModule('bn2', batchNorm(2, 20));
  readonly act1 = this.registerModule('act1', new ReLU());
  readonly sum = this.registerModule('sum', new Add());
  readonly act2 = this.registerModule('act2', new ReLU());

  constructor(private readonly functional: boolean) {
    super();
  }

  forward(x: Tensor): Tensor {
    const inner = this.functional ? relu(this.bn1.forward(this.conv1.forward(x))) : this.act1.forward(this.bn1.forward(this.conv1.forward(x)));
    const out = this.bn2.forward(this.conv2.forward(inner));
    return this.functional ? relu(add(x, out)) : this.act2.forward(this.sum.forward(x, out));
  }
}

/** stem conv, basic block, flatten (op or module), Linear; CrossEntropyLoss. */
function network(functional: boolean) {
  const stem = conv(1, 2, 3);
  const block = new BasicBlock(functional);
  const flat = new Flatten();
  const head = linear(2 * 4 * 4, 3, 4);
  const model = new Sequential(stem, block, flat, head);
  const forward = (x: Tensor) => head.forward(functional ? flatten(block.forward(stem.forward(x)), 1) : flat.forward(block.forward(stem.forward(x))));
  const x = randomTensor([3, 1, 4, 4], 5);
  const y = t([0, 2, 1], [3], 'int32');
  const lossFunction = new CrossEntropyLoss();
  return { model, loss: () => lossFunction.forward(forward(x), y) };
}

describe('a ResNet basic block: add(x, block(x)) and relu as ops, or Add and ReLU modules', () => {
  it('every quantity of the 15 extensions is equal (float64, 1e-12)', () => {
    const functional = network(true);
    const modules = network(false);
    expectSameQuantities(extensionQuantities(functional.model, functional.loss), extensionQuantities(modules.model, modules.loss), SAME_RTOL);
  });

  it('.grad against finite differences of the loss', () => {
    const { model, loss } = network(true);
    loss().backward();
    for (const parameter of model.parameters()) {
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  });
});

describe("core's curved ops between modules", () => {
  function mlp(functional: boolean) {
    const [first, act, second] = [linear(3, 4, 1), new Tanh(), linear(4, 3, 2)];
    const model = new Sequential(first, act, second);
    const x = randomTensor([5, 3], 3);
    const y = t([0, 2, 1, 1, 0], [5], 'int32');
    const forward = () => second.forward(functional ? tanh(first.forward(x)) : act.forward(first.forward(x)));
    const lossFunction = new CrossEntropyLoss();
    return { model, loss: () => lossFunction.forward(forward(), y) };
  }

  it('tanh as an op: first-order, GGN and Kronecker quantities equal the Tanh module; DiagHessian refuses it', () => {
    const names = [...EXTENSIONS.keys()].filter((name) => !name.includes('Hessian'));
    const functional = mlp(true);
    const modules = mlp(false);
    expectSameQuantities(extensionQuantities(functional.model, functional.loss, names), extensionQuantities(modules.model, modules.loss, names), SAME_RTOL);
    expect(() => backpack([EXTENSIONS.get('DiagHessian')!.create()], () => functional.loss().backward())).toThrow(
      "DiagHessian cannot run: the Hessian diagonal needs the second derivative of every node between the loss and the parameters, and op 'tanh' " +
        '(called outside any module) is curved (ops give no second derivatives); compute it with a module there (e.g. Tanh)',
    );
  });
});

describe('ops between the model and the loss, and losses written with ops', () => {
  const model = () => new Sequential(linear(3, 4, 1), new Tanh(), linear(4, 2, 2));
  const x = randomTensor([5, 3], 6);
  const y = randomTensor([5, 2], 7);

  it('an op between the model and a loss module', () => {
    const m = model();
    const loss = () => new MSELoss().forward(mul(m.forward(x), 2), y);
    loss().backward();
    for (const parameter of m.parameters()) {
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  });

  it('mean(square(sub(prediction, target))): .grad and the first-order quantities of MSELoss', () => {
    const [a, b] = [model(), model()];
    const byOps = () => mean(square(sub(a.forward(x), y)));
    const byModule = () => new MSELoss().forward(b.forward(x), y);
    expectSameQuantities(extensionQuantities(a, byOps, FIRST_ORDER), extensionQuantities(b, byModule, FIRST_ORDER), SAME_RTOL);
  });
});
