/**
 * How the first-order extensions find a module's rule: a rule set on the
 * instance or a package default for the nearest class in the module's
 * prototype chain, else the per-sample fallback for modules with the trait
 * `perSampleParameterJacobian`; anything else is refused before the pass
 * changes anything, naming extension and module.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { PlainScaleShift } from '@backpack-ts/conformance';
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
  square,
  sum,
  type Extension,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance, type FirstOrderRule } from '../src/index.js';

const dtype = 'float64';
const allFour = (): Extension[] => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()];

const plainScaleShift = () => new PlainScaleShift(3, { backend: cpu, dtype, generator: new Generator(1) });

/** PlainScaleShift applied twice (weight sharing). */
class TwiceTheSame extends Module {
  readonly typeName = 'TwiceTheSame';
  private readonly layer = this.registerModule('layer', plainScaleShift());
  forward(x: Tensor): Tensor {
    return this.layer.forward(this.layer.forward(x));
  }
}

/** PlainScaleShift's per-sample gradients: `g_n ⊙ x_n` for the scale, `g_n` for the shift. */
const perSampleScaleShift: FirstOrderRule = (node, gradOutput, name) => (name === 'scale' ? mul(gradOutput, node.input) : gradOutput);

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
    const model = new Sequential(new Linear(3, 3, { backend: cpu, dtype }), plainScaleShift());
    expect(() => run(model, [extension])).toThrow(UnsupportedModuleError);
    expect(() => run(model, [extension])).toThrow(
      `${extension.name} has no rule for PlainScaleShift '1' (module type PlainScaleShift); declare the trait perSampleParameterJacobian on PlainScaleShift, or set one with ${extension.name}'s setModuleRule(PlainScaleShift, rule)`,
    );
    for (const parameter of model.parameters()) expect(parameter.grad).toBeUndefined();
  });

  it('a rule set on an instance is used by that instance only', () => {
    const layer = plainScaleShift();
    run(new Sequential(layer), [new BatchGrad().setModuleRule(PlainScaleShift, perSampleScaleShift)]);
    for (const parameter of [layer.scale, layer.shift]) {
      const summed = sum(parameter.gradBatch!, 0).toArray();
      parameter.grad!.toArray().forEach((g, i) => expect(summed[i]).toBeCloseTo(g, 14));
    }
    expect(() => run(new Sequential(plainScaleShift()), [new BatchGrad()])).toThrow(UnsupportedModuleError);
  });

  it("a subclass of Linear inherits Linear's rules", () => {
    for (const extension of [new SumGradSquared(), new BatchL2Grad(), new Variance()]) {
      const rule = extension.ruleFor(new Linear(2, 2, { backend: cpu }));
      expect(rule).toBeDefined();
      expect(extension.ruleFor(new MyLinear(2, 2, { backend: cpu }))).toBe(rule);
    }
  });

  it('a shared parameter needs the trait even when a rule is set (its per-sample gradients are summed over the uses)', () => {
    const rule: FirstOrderRule = (node, gradOutput, name) => sum(square(perSampleScaleShift(node, gradOutput, name)), 0);
    expect(() => run(new TwiceTheSame(), [new SumGradSquared().setModuleRule(PlainScaleShift, rule)])).toThrow(
      "SumGradSquared: parameter 'scale' of PlainScaleShift 'layer' is used by 2 modules (weight sharing), which needs the per-sample gradient of each use: declare the trait perSampleParameterJacobian on PlainScaleShift",
    );
  });
});
