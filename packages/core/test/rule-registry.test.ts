/**
 * The one way extensions find a module's rule: the nearest class in the
 * module's prototype chain with a rule set on the instance or given as a
 * package default, else the fallback for its traits, else an
 * UnsupportedModuleError naming extension, module and what would help.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  ELU,
  Identity,
  LeafModule,
  Linear,
  ReLU,
  RuleBasedExtension,
  SELU,
  UnsupportedModuleError,
  tensor,
  type GraphNode,
  type ModuleRules,
  type RuleForModule,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { linear } from './helpers/models.js';

/** Rules are plain labels here: which rule was found is all these tests look at. */
class LabelExtension extends RuleBasedExtension<string> {
  readonly name = 'LabelExtension';
  readonly savefield = 'label';
  constructor(defaults: ModuleRules<string> = []) {
    super(defaults);
  }
  /** Identity modules fall back on a rule; everything else has none. */
  protected override fallbackRule(module: LeafModule): string | undefined {
    return module instanceof Identity ? 'identity fallback' : undefined;
  }
  protected override fallbackRequirement(module: LeafModule): string | undefined {
    return module instanceof Linear ? 'the trait perSampleParameterJacobian' : undefined;
  }
  check(node: GraphNode): void {
    this.requireRule(node.module);
  }
  begin() {
    return { visit: () => undefined };
  }
  /** `requireRule`, exposed for the test. */
  require(module: LeafModule): string {
    return this.requireRule(module);
  }
}

class MyLinear extends Linear {}

/** A module unrelated to any class with a rule. */
class Lonely extends LeafModule {
  readonly typeName = 'Lonely';
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return inputs[0]!;
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mat;
  }
}

describe('rule lookup', () => {
  it('a subclass gets the rule of its nearest class with one (SELU extends ELU); unrelated classes get none', () => {
    const extension = new LabelExtension([[ELU, 'elu']]);
    expect(extension.ruleFor(new SELU())).toBe('elu');
    extension.setModuleRule(SELU, 'selu');
    expect(extension.ruleFor(new SELU())).toBe('selu');
    expect(extension.ruleFor(new ELU())).toBe('elu');
    expect(extension.ruleFor(new MyLinear(2, 2, { backend: cpu }))).toBeUndefined();
  });

  it('the nearest class wins, whether its rule is a default or set on the instance', () => {
    const extension = new LabelExtension([[Linear, 'linear default']]).setModuleRule(LeafModule, 'any leaf module');
    expect(extension.ruleFor(linear(2, 2, 1))).toBe('linear default');
    expect(extension.ruleFor(new ReLU())).toBe('any leaf module');
  });

  it('setModuleRule replaces a default in that instance only and leaves the defaults alone', () => {
    const defaults = new Map([[Linear, 'linear default']]);
    const changed = new LabelExtension(defaults).setModuleRule(Linear, 'mine');
    const fresh = new LabelExtension(defaults);
    expect(changed.ruleFor(linear(2, 2, 1))).toBe('mine');
    expect(fresh.ruleFor(linear(2, 2, 1))).toBe('linear default');
    expect([...defaults.values()]).toEqual(['linear default']);
  });

  it('a class without a rule in its chain gets the fallback, which a rule set for the class overrides', () => {
    const extension = new LabelExtension();
    expect(extension.ruleFor(new Identity())).toBe('identity fallback');
    expect(extension.setModuleRule(Identity, 'set').ruleFor(new Identity())).toBe('set');
  });

  it('no rule and no fallback: an UnsupportedModuleError naming extension, module and what would help', () => {
    const extension = new LabelExtension();
    const layer = linear(2, 2, 1);
    expect(() => extension.require(layer)).toThrow(UnsupportedModuleError);
    expect(() => extension.require(layer)).toThrow(
      "LabelExtension has no rule for Linear (module type Linear); declare the trait perSampleParameterJacobian on Linear, or set one with LabelExtension's setModuleRule(Linear, rule)",
    );
    expect(() => extension.require(new Lonely())).toThrow(
      "LabelExtension has no rule for Lonely (module type Lonely); set one with LabelExtension's setModuleRule(Lonely, rule)",
    );
  });
});

/** Rules of the two forms the packages use: a function (first-order) and an object of methods (second-order). */
type FunctionRule = (node: GraphNode, name: string) => number;
interface MethodRule {
  backpropagate(node: GraphNode, inputIndex: number): number;
  parameters?(node: GraphNode): string[];
}

/** An extension with rules of type `Rule`, which only stores and finds them. */
class RulesOf<Rule> extends RuleBasedExtension<Rule> {
  readonly name = 'RulesOf';
  readonly savefield = 'rulesOf';
  constructor() {
    super([]);
  }
  check(): void {}
  begin() {
    return { visit: () => undefined };
  }
}

describe('typed rules', () => {
  const layer = linear(3, 2, 1);
  const node = layer.forward(tensor([1, 2, 3], [1, 3], { backend: cpu }).requiresGrad_()).producer!;

  it("a rule set for a class gets nodes of that class's modules: node.module is typed by the class, no cast", () => {
    const functions = new RulesOf<FunctionRule>().setModuleRule(Linear, (linearNode, name) => {
      expectTypeOf(linearNode).toEqualTypeOf<GraphNode<Linear>>();
      expectTypeOf(linearNode.module).toEqualTypeOf<Linear>();
      return linearNode.module.outFeatures * 10 + name.length;
    });
    const methods = new RulesOf<MethodRule>().setModuleRule(Linear, {
      backpropagate: (linearNode, inputIndex) => linearNode.module.inFeatures + inputIndex,
      parameters: (linearNode) => linearNode.module.ownNamedParameters().map(([name]) => name),
    });
    expect(functions.ruleFor(layer)!(node, 'weight')).toBe(26);
    expect(methods.ruleFor(layer)!.backpropagate(node, 1)).toBe(4);
    expect(methods.ruleFor(layer)!.parameters!(node)).toEqual(['weight', 'bias']);
  });

  it('RuleForModule narrows the node of a function rule and of each method, optional ones included', () => {
    expectTypeOf<RuleForModule<FunctionRule, Linear>>().toEqualTypeOf<(node: GraphNode<Linear>, name: string) => number>();
    expectTypeOf<Parameters<RuleForModule<MethodRule, ReLU>['backpropagate']>[0]>().toEqualTypeOf<GraphNode<ReLU>>();
    expectTypeOf<Parameters<NonNullable<RuleForModule<MethodRule, ReLU>['parameters']>>[0]>().toEqualTypeOf<GraphNode<ReLU>>();
    expectTypeOf<RuleForModule<string, ReLU>>().toEqualTypeOf<string>();
  });

  it("a rule for any module (a package's generic rule) still fits every class; one for another class does not", () => {
    const generic: FunctionRule = (anyNode) => anyNode.module.ownNamedParameters().length;
    expect(new RulesOf<FunctionRule>().setModuleRule(Linear, generic).ruleFor(layer)!(node, '')).toBe(2);
    const linearOnly = (linearNode: GraphNode<Linear>) => linearNode.module.inFeatures;
    // @ts-expect-error a rule that reads Linear's fields cannot be set for ReLU
    new RulesOf<FunctionRule>().setModuleRule(ReLU, linearOnly);
    expect(new RulesOf<FunctionRule>().setModuleRule(Linear, linearOnly).ruleFor(layer)!(node, '')).toBe(3);
  });
});
