/**
 * Modules are the unit of the extensions; between them, op nodes. With the
 * conformance package's test ops (written with `recordOp`, so independent of
 * core's own op rules):
 *
 * - a residual block written with ops (`add`, `relu`) gives every quantity of
 *   the 15 extensions equal to the same block written with modules;
 * - a curved op (`tanh`) passes the first-order, GGN and Kronecker
 *   extensions, and the Hessian-based ones refuse it, naming it;
 * - an op mixing samples, a parameter used by an op directly, and a loss that
 *   is no loss module are refused as documented, while `.grad` works;
 * - the functional losses equal their modules for every extension.
 */
import { describe, expect, it } from 'vitest';
import {
  Add,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Linear,
  MSELoss,
  Module,
  ReLU,
  Tanh,
  backpack,
  bceWithLogits,
  crossEntropy,
  extend,
  mseLoss,
  type Tensor,
} from '@backpack-ts/core';
import { EXTENSIONS } from '@backpack-ts/catalog';
import { recordedOps } from '@backpack-ts/conformance';
import { expectClose } from './helpers/close.js';
import { extensionQuantities, expectSameQuantities } from './helpers/extension-quantities.js';
import { parameterJacobian } from './helpers/finite-differences.js';
import { linear } from './helpers/models.js';
import { randomTensor, t, values } from './helpers/tensors.js';

/** The two forms compute the same numbers in a different order of operations at most. */
const SAME_RTOL = 1e-12;
/** Finite differences of the loss (h = 1e-6). */
const FD_RTOL = 1e-7;

const FIRST_ORDER = ['BatchGrad', 'Variance', 'SumGradSquared', 'BatchL2Grad'];
const GGN_BASED = ['DiagGGNExact', 'DiagGGNMC', 'BatchDiagGGNExact', 'BatchDiagGGNMC', 'SqrtGGNExact', 'SqrtGGNMC', 'KFAC', 'KFLR', 'KFRA'];

type Activation = 'relu' | 'tanh';

/** `head(act(h + body2(act(body1(h)))))` with `h = stem(x)`: activations and the sum as ops or as modules. */
class ResidualBlock extends Module {
  readonly typeName = 'ResidualBlock';
  readonly stem = this.registerModule('stem', linear(4, 5, 1));
  readonly body1 = this.registerModule('body1', linear(5, 5, 2));
  readonly body2 = this.registerModule('body2', linear(5, 5, 3));
  readonly head = this.registerModule('head', linear(5, 3, 4));
  readonly sum = this.registerModule('sum', new Add());
  readonly act1: Module;
  readonly act2: Module;

  constructor(
    private readonly form: 'ops' | 'modules',
    private readonly activation: Activation = 'relu',
  ) {
    super();
    const make = () => (activation === 'relu' ? new ReLU() : new Tanh());
    this.act1 = this.registerModule('act1', make());
    this.act2 = this.registerModule('act2', make());
  }

  private act(module: Module, x: Tensor): Tensor {
    return this.form === 'modules' ? module.forward(x) : recordedOps[this.activation](x);
  }

  forward(x: Tensor): Tensor {
    const h = this.stem.forward(x);
    const body = this.body2.forward(this.act(this.act1, this.body1.forward(h)));
    const merged = this.form === 'modules' ? this.sum.forward(h, body) : recordedOps.add(h, body);
    return this.head.forward(this.act(this.act2, merged));
  }
}

const input = () => randomTensor([6, 4], 5);
const target = () => t([0, 2, 1, 1, 0, 2], [6], 'int32');

function problem(form: 'ops' | 'modules', activation: Activation = 'relu') {
  const model = new ResidualBlock(form, activation);
  const lossFunction = new CrossEntropyLoss();
  return { model, loss: () => lossFunction.forward(model.forward(input()), target()) };
}

describe('a residual block with ops between its modules', () => {
  it('add and relu as ops: every quantity of the 15 extensions equals the block with Add and ReLU modules', () => {
    const ops = problem('ops');
    const modules = problem('modules');
    expectSameQuantities(extensionQuantities(ops.model, ops.loss), extensionQuantities(modules.model, modules.loss), SAME_RTOL);
  });

  it('.grad against finite differences of the loss', () => {
    const { model, loss } = problem('ops');
    loss().backward();
    for (const [name, parameter] of model.namedParameters()) {
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
      expect(name).toBeTruthy();
    }
  });

  it('tanh as an op: the first-order, GGN and Kronecker quantities equal the block with Tanh modules', () => {
    const ops = problem('ops', 'tanh');
    const modules = problem('modules', 'tanh');
    const names = [...FIRST_ORDER, ...GGN_BASED];
    expectSameQuantities(extensionQuantities(ops.model, ops.loss, names), extensionQuantities(modules.model, modules.loss, names), SAME_RTOL);
  });

  it('tanh as an op: the Hessian-based extensions refuse it, naming it and where it ran, before anything is stored', () => {
    const { model, loss } = problem('ops', 'tanh');
    const message =
      "cannot run: the Hessian diagonal needs the second derivative of every node between the loss and the parameters, and op 'tanh' " +
      '(called in the forward of ResidualBlock) is curved (ops give no second derivatives); compute it with a module there (e.g. Tanh)';
    for (const name of ['DiagHessian', 'BatchDiagHessian']) {
      expect(() => backpack([EXTENSIONS.get(name)!.create()], () => loss().backward())).toThrow(`${name} ${message}`);
    }
    const KFRA = EXTENSIONS.get('KFRA')!.create().constructor as new (options: object) => import('@backpack-ts/core').Extension;
    expect(() => backpack([new KFRA({ curvature: 'hessian' })], () => loss().backward())).toThrow(
      "KFRA cannot run: with curvature 'hessian' it adds every node's residual Hessian term, and op 'tanh' (called in the forward of ResidualBlock) " +
        "is curved (ops give no second derivatives); compute it with a module there, or use curvature 'ggn'",
    );
    expect(model.parameters().every((p) => p.grad === undefined)).toBe(true);
  });
});

describe('what the extensions refuse between modules, while .grad works', () => {
  /** `head(reshape(first(x)))` where the reshape folds the batch into features: [6, 4] -> [3, 8]. */
  class Folding extends Module {
    readonly typeName = 'Folding';
    readonly first = this.registerModule('first', linear(4, 4, 1));
    readonly head = this.registerModule('head', linear(8, 2, 2));
    forward(x: Tensor): Tensor {
      return this.head.forward(recordedOps.reshape(this.first.forward(x), [3, 8]));
    }
  }

  it('an op that mixes samples: per-sample and second-order extensions refuse, naming the op and the module it ran in', () => {
    const model = extend(new Folding());
    const loss = () => new MSELoss().forward(model.forward(input()), randomTensor([3, 2], 6));
    for (const name of ['BatchGrad', 'DiagGGNExact', 'KFLR']) {
      expect(() => backpack([EXTENSIONS.get(name)!.create()], () => loss().backward())).toThrow(
        `${name} cannot run: op 'reshape' (called in the forward of Folding) mixes the samples of the batch between modules with parameters and the loss; ` +
          'its quantities are undefined there (.grad alone works)',
      );
    }
    expect(model.parameters().every((p) => p.grad === undefined)).toBe(true);
    loss().backward();
    for (const parameter of model.parameters()) {
      expectClose(parameter.grad!, parameterJacobian(parameter, loss).data, FD_RTOL, parameter.data.shape);
    }
  });

  it('a parameter used by an op directly (weight decay): .grad includes it, the extensions refuse naming the parameter', () => {
    const model = extend(new ResidualBlock('modules'));
    const decay = (x: Tensor) => recordedOps.scale(recordedOps.sum(recordedOps.square(x)), 0.01);
    const lossFunction = new CrossEntropyLoss();
    const loss = () => recordedOps.add(lossFunction.forward(model.forward(input()), target()), decay(model.head.weight.data));
    expect(() => backpack([EXTENSIONS.get('BatchGrad')!.create()], () => loss().backward())).toThrow(
      "BatchGrad cannot run: parameter 'weight' of Linear 'head' enters op 'square' (called outside any module) directly, outside a module with derivatives; " +
        'its quantities are undefined there (.grad alone works)',
    );
    loss().backward();
    for (const parameter of model.parameters()) {
      expectClose(parameter.grad!, parameterJacobian(parameter, () => loss()).data, FD_RTOL, parameter.data.shape);
    }
  });

  it('a loss written with ops: .grad and the first-order extensions as the loss module; second-order ones ask for a loss module', () => {
    const ops = problem('modules');
    const y = randomTensor([6, 3], 7);
    const { sub, square, sum, scale } = recordedOps;
    const meanSquaredError = () => scale(sum(square(sub(ops.model.forward(input()), y))), 1 / 18);
    const modules = problem('modules');
    const mse = () => new MSELoss().forward(modules.model.forward(input()), y);
    expectSameQuantities(extensionQuantities(ops.model, meanSquaredError, FIRST_ORDER), extensionQuantities(modules.model, mse, FIRST_ORDER), SAME_RTOL);
    expect(() => backpack([EXTENSIONS.get('DiagGGNExact')!.create()], () => meanSquaredError().backward())).toThrow(
      'DiagGGNExact needs the backward pass to start at a loss module (CrossEntropyLoss, MSELoss, BCEWithLogitsLoss, ..., ' +
        "or the functional crossEntropy, mseLoss, bceWithLogits), whose Hessian it starts from, but it starts at op 'scale' (called outside any module)",
    );
  });
});

describe('functional losses', () => {
  it('crossEntropy, mseLoss and bceWithLogits give every quantity of their modules', () => {
    const logits = (model: Linear) => model.forward(input());
    const cases = [
      { functional: (m: Linear) => crossEntropy(logits(m), target()), module: (m: Linear) => new CrossEntropyLoss().forward(logits(m), target()) },
      {
        functional: (m: Linear) => mseLoss(logits(m), randomTensor([6, 3], 8), { reduction: 'sum' }),
        module: (m: Linear) => new MSELoss('sum').forward(logits(m), randomTensor([6, 3], 8)),
      },
      {
        functional: (m: Linear) => bceWithLogits(logits(m), randomTensor([6, 3], 9, { low: 0, high: 1 })),
        module: (m: Linear) => new BCEWithLogitsLoss().forward(logits(m), randomTensor([6, 3], 9, { low: 0, high: 1 })),
      },
    ];
    for (const { functional, module } of cases) {
      const [a, b] = [linear(4, 3, 1), linear(4, 3, 1)];
      expectSameQuantities(extensionQuantities(a, () => functional(a)), extensionQuantities(b, () => module(b)), 0);
    }
    expect(values(crossEntropy(randomTensor([2, 3], 1), t([0, 2], [2], 'int32'), { reduction: 'sum' }))).toHaveLength(1);
  });
});
