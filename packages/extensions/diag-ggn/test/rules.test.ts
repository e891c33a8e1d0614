/**
 * Which modules the GGN extensions accept: parameter-free modules of any
 * class (their own `jacTMatProd`), modules with parameters when a rule is
 * found for their class or a parent class (set on the instance with
 * `setModuleRule`, or the package's default) or when they declare the trait
 * `perSampleParameterJacobian`; everything else is refused before anything is
 * computed, with core's UnsupportedModuleError naming extension and module.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Generator,
  LSTM,
  LeafModule,
  Linear,
  Permute,
  RNN,
  ReduceTuple,
  Sequential,
  Tanh,
  UnsupportedModuleError,
  backpack,
  extend,
  mul,
  neg,
  tensor,
  tidy,
  type Extension,
  type GraphNode,
  type Module,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import {
  BatchDiagGGNExact,
  BatchDiagGGNMC,
  DiagGGNExact,
  DiagGGNMC,
  SqrtGGNExact,
  SqrtGGNMC,
  genericGgnRule,
  linearGgnRule,
  recurrentGgnRule,
  squaredSum,
  type GgnRule,
} from '../src/index.js';
import { expectClose } from './helpers/ggn.js';

const dtype = 'float64';

function allSix(): Extension[] {
  return [
    new DiagGGNExact(),
    new BatchDiagGGNExact(),
    new SqrtGGNExact(),
    new DiagGGNMC({ seed: 0 }),
    new BatchDiagGGNMC({ seed: 0 }),
    new SqrtGGNMC({ seed: 0 }),
  ];
}

/** A parameter-free module no extension has heard of: `y = -x`. */
class Negate extends LeafModule {
  readonly typeName = 'Negate';
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return neg(inputs[0]!);
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return neg(mat);
  }
}

/** A module with a parameter, no rule and no traits: `y = x ⊙ w`. */
class UnregisteredScale extends LeafModule {
  readonly typeName = 'UnregisteredScale';
  readonly weight: Parameter;
  constructor(features: number) {
    super();
    this.weight = this.registerParameter('weight', tensor(Array.from({ length: features }, (_, i) => 1 + i / 10), [features], { backend: cpu, dtype }));
  }
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, this.weight.data);
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight.data);
  }
  override paramJacTMatProd(node: GraphNode, _name: string, mat: Tensor): Tensor {
    return mul(mat, node.input);
  }
}

/** A subclass of Linear: it inherits Linear's rule. */
class MyLinear extends Linear {}

const generator = () => new Generator(3);
const linear = (g: Generator, i: number, o: number) => new Linear(i, o, { backend: cpu, dtype, generator: g });
const input = () => new Generator(4).uniform([3, 4], { low: -1, high: 1, backend: cpu, dtype });
const target = () => tensor([0, 1, 2], [3], { backend: cpu, dtype: 'int32' });

function backward(model: Module, extensions: readonly Extension[]): void {
  tidy(() => {
    const loss = extend(new CrossEntropyLoss()).forward(model.forward(input()), target());
    backpack(extensions, () => loss.backward());
  });
}

describe('module rules', () => {
  it('parameter-free modules of any class backpropagate with their jacTMatProd', () => {
    const g = generator();
    const plain = extend(new Sequential(linear(g, 4, 5), new Tanh(), linear(g, 5, 3)));
    const h = generator();
    const negated = extend(new Sequential(linear(h, 4, 5), new Negate(), new Tanh(), new Negate(), linear(h, 5, 3)));
    backward(plain, [new DiagGGNExact(), new SqrtGGNExact()]);
    backward(negated, [new DiagGGNExact(), new SqrtGGNExact()]);
    const [a, b] = [plain.namedParameters(), negated.namedParameters()];
    for (let i = 0; i < a.length; i++) {
      const [x, y] = [a[i]![1], b[i]![1]];
      expect(Array.from(y.diagGgnExact!.toArray())).toEqual(Array.from(x.diagGgnExact!.toArray()));
      expect(Array.from(y.sqrtGgnExact!.toArray())).toEqual(Array.from(x.sqrtGgnExact!.toArray()));
    }
  });

  it('a module with parameters and no rule is refused by every extension, before anything changes', () => {
    const g = generator();
    const model = extend(new Sequential(linear(g, 4, 4), new UnregisteredScale(4), linear(g, 4, 3)));
    for (const extension of allSix()) {
      let error: unknown;
      try {
        backward(model, [extension]);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnsupportedModuleError);
      expect((error as UnsupportedModuleError).extensionName).toBe(extension.name);
      expect((error as UnsupportedModuleError).message).toMatch(/UnregisteredScale '1'/);
      for (const [, parameter] of model.namedParameters()) expect(parameter.grad).toBeUndefined();
    }
  });

  it('the refusal names what would make the module supported', () => {
    const g = generator();
    const model = extend(new Sequential(linear(g, 4, 4), new UnregisteredScale(4), linear(g, 4, 3)));
    expect(() => backward(model, [new DiagGGNExact()])).toThrow(
      "DiagGGNExact has no rule for UnregisteredScale '1' (module type UnregisteredScale); declare the trait perSampleParameterJacobian on UnregisteredScale, or set one with DiagGGNExact's setModuleRule(UnregisteredScale, rule)",
    );
  });

  it('a subclass inherits the rule of its nearest registered parent class', () => {
    const layer = new MyLinear(4, 3, { backend: cpu, dtype, generator: generator() });
    const model = extend(new Sequential(layer));
    expect(new DiagGGNExact().ruleFor(layer)).toBe(linearGgnRule);
    backward(model, allSix());
    const weight = model.namedParameters()[0]![1];
    expect(weight.diagGgnExact?.shape).toEqual([3, 4]);
    expect(weight.sqrtGgnMc?.shape).toEqual([1, 3, 3, 4]);
  });

  it('RNN and LSTM have the recurrent rule: its diagonals equal the squares of SqrtGGNExact\'s P (built by paramJacTMatProd)', () => {
    const g = generator();
    const recurrent = [new LSTM(4, 3, { backend: cpu, dtype, generator: g, batchFirst: true, numLayers: 2 }), new RNN(3, 2, { backend: cpu, dtype, generator: g, batchFirst: true })];
    const model = extend(new Sequential(recurrent[0]!, new ReduceTuple(0), recurrent[1]!, new ReduceTuple(0), new Permute([0, 2, 1])));
    for (const layer of recurrent) expect(new DiagGGNExact().ruleFor(layer)).toBe(recurrentGgnRule);
    tidy(() => {
      const sequences = new Generator(5).uniform([3, 5, 4], { low: -1, high: 1, backend: cpu, dtype });
      const targets = tensor([0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0], [3, 5], { backend: cpu, dtype: 'int32' });
      const loss = extend(new CrossEntropyLoss()).forward(model.forward(sequences), targets);
      backpack([new DiagGGNExact(), new BatchDiagGGNExact(), new SqrtGGNExact()], () => loss.backward());
    });
    for (const [name, parameter] of model.namedParameters()) {
      const p = parameter.sqrtGgnExact!;
      expect(p.shape[0], name).toBe(2 * 5); // C·T columns
      expectClose(parameter.diagGgnExactBatch!.toArray(), squaredSum(p, { sumBatch: false }).toArray(), 1e-12, name);
      expectClose(parameter.diagGgnExact!.toArray(), squaredSum(p, { sumBatch: true }).toArray(), 1e-12, name);
    }
  });

  it('a rule set on an instance decides how its module class is handled, in that instance only', () => {
    class Traced extends Linear {}
    const calls: string[] = [];
    const traced: GgnRule = {
      backpropagate(node, sqrt, inputIndex, context) {
        calls.push('backpropagate');
        return genericGgnRule.backpropagate(node, sqrt, inputIndex, context);
      },
      sqrtGgn(node, name, sqrt) {
        calls.push(`sqrtGgn ${name}`);
        return node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false });
      },
      diagGgn(node, name, sqrt, options) {
        calls.push(`diagGgn ${name} ${options.sumBatch}`);
        return squaredSum(node.module.paramJacTMatProd(node, name, sqrt, { sumBatch: false }), options);
      },
    };
    const g = generator();
    const model = extend(new Sequential(linear(g, 4, 5), new Tanh(), new Traced(5, 3, { backend: cpu, dtype, generator: g })));
    calls.length = 0;
    backward(model, [new SqrtGGNExact().setModuleRule(Traced, traced)]);
    expect(calls.sort()).toEqual(['backpropagate', 'sqrtGgn bias', 'sqrtGgn weight']);
    calls.length = 0;
    backward(model, [new DiagGGNExact().setModuleRule(Traced, traced), new BatchDiagGGNMC({ seed: 1 }).setModuleRule(Traced, traced)]);
    expect(calls.sort()).toEqual(['backpropagate', 'backpropagate', 'diagGgn bias false', 'diagGgn bias true', 'diagGgn weight false', 'diagGgn weight true']);
    calls.length = 0;
    backward(model, [new DiagGGNExact()]);
    expect(calls).toEqual([]);
  });

  it('needs the backward pass to start at a loss', () => {
    const g = generator();
    const model = extend(new Sequential(linear(g, 4, 1)));
    const x = new Generator(5).uniform([1, 4], { backend: cpu, dtype });
    expect(() => backpack([new DiagGGNExact()], () => model.forward(x).backward())).toThrow(/needs the backward pass to start at a loss module/);
  });
});
