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
  type GraphNode,
  type ModuleRules,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
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
