/**
 * How the first-order extensions find a module's rule: a rule set on the
 * instance or a package default for the nearest class in the module's
 * prototype chain, else the per-sample fallback for modules with the trait
 * `perSampleParameterJacobian`; anything else is refused before the pass
 * changes anything, naming extension and module.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  Generator,
  Linear,
  MSELoss,
  Module,
  Sequential,
  UnsupportedModuleError,
  backpack,
  extend,
  mul,
  sum,
  type Extension,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance, type FirstOrderRule } from '../src/index.js';
import { PlainScale } from './helpers/scale.js';

const dtype = 'float64';
const allFour = (): Extension[] => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()];

/** PlainScale applied twice (weight sharing). */
class ScaleTwice extends Module {
  readonly typeName = 'ScaleTwice';
  private readonly scale = this.registerModule('scale', new PlainScale(3));
  forward(x: Tensor): Tensor {
    return this.scale.forward(this.scale.forward(x));
  }
}

class MyLinear extends Linear {}

function run(model: Module, extensions: readonly Extension[]): void {
  const generator = new Generator(2);
  const input = generator.uniform([4, 3], { backend: cpu, dtype });
  const target = generator.uniform([4, 3], { backend: cpu, dtype });
  const loss = extend(new MSELoss()).forward(extend(model).forward(input), target);
  backpack(extensions, () => loss.backward());
}

describe('first-order rules', () => {
  it.each(allFour())('$name refuses a module with parameters, no rule and no traits, before anything changes', (extension) => {
    const model = new Sequential(new Linear(3, 3, { backend: cpu, dtype }), new PlainScale(3));
    expect(() => run(model, [extension])).toThrow(UnsupportedModuleError);
    expect(() => run(model, [extension])).toThrow(
      `${extension.name} has no rule for PlainScale '1' (module type PlainScale); declare the trait perSampleParameterJacobian on PlainScale, or set one with ${extension.name}'s setModuleRule(PlainScale, rule)`,
    );
    for (const parameter of model.parameters()) expect(parameter.grad).toBeUndefined();
  });

  it('a rule set on an instance is used by that instance only', () => {
    const perSampleWeight: FirstOrderRule = (node, gradOutput) => mul(gradOutput, node.input);
    const scale = new PlainScale(3);
    run(new Sequential(scale), [new BatchGrad().setModuleRule(PlainScale, perSampleWeight)]);
    const expected = sum(scale.weight.gradBatch!, 0).toArray();
    scale.weight.grad!.toArray().forEach((g, i) => expect(expected[i]).toBeCloseTo(g, 14));
    expect(() => run(new Sequential(new PlainScale(3)), [new BatchGrad()])).toThrow(UnsupportedModuleError);
  });

  it("a subclass of Linear inherits Linear's rules", () => {
    for (const extension of [new SumGradSquared(), new BatchL2Grad(), new Variance()]) {
      const rule = extension.ruleFor(new Linear(2, 2, { backend: cpu }));
      expect(rule).toBeDefined();
      expect(extension.ruleFor(new MyLinear(2, 2, { backend: cpu }))).toBe(rule);
    }
  });

  it('a shared parameter needs the trait even when a rule is set (its per-sample gradients are summed over the uses)', () => {
    const rule: FirstOrderRule = (node, gradOutput) => sum(mul(gradOutput, node.input), 0);
    expect(() => run(new ScaleTwice(), [new SumGradSquared().setModuleRule(PlainScale, rule)])).toThrow(
      "SumGradSquared: parameter 'weight' of PlainScale 'scale' is used by 2 modules (weight sharing), which needs the per-sample gradient of each use: declare the trait perSampleParameterJacobian on PlainScale",
    );
  });
});
