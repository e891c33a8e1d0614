/**
 * KFAC, KFLR and KFRA in one backward pass give exactly what each gives
 * alone (they keep separate state; KFAC with a seed draws the same samples),
 * next to the first-order quantity `.grad`; a Linear layer's input factor,
 * the same for all three, is computed once.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { buildSupportedGoldenModel, listGoldenCases, loadGoldenCase, unsupportedTypes } from '@backpack-ts/conformance';
import { CrossEntropyLoss, Generator, Linear, ReLU, Sequential, extend, tensor, type Backend, type Extension, type Shape } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA } from '../src/index.js';
import { hasRecurrentLayer, runExtensions } from './helpers.js';

type Field = 'kfac' | 'kflr' | 'kfra';
const make: Record<Field, () => Extension> = {
  kfac: () => new KFAC({ seed: 31, mcSamples: 4 }),
  kflr: () => new KFLR(),
  kfra: () => new KFRA(),
};

const cases = listGoldenCases()
  .map((file) => loadGoldenCase(file))
  // Recurrent layers are refused by all three (golden.test.ts).
  .filter((golden) => unsupportedTypes(golden).length === 0 && !hasRecurrentLayer(golden));

describe.each(cases.map((golden) => ({ golden, name: golden.name })))('golden network $name', ({ golden }) => {
  function run(extensions: readonly Extension[]) {
    const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
    runExtensions(built.model, built.loss, built.input, built.target, extensions);
    return built.model.namedParameters();
  }

  it('KFAC + KFLR + KFRA together equal each alone', () => {
    const together = run([make.kfac(), make.kflr(), make.kfra()]);
    const fields = Object.keys(make) as Field[];
    for (const field of fields) {
      const alone = run([make[field]()]);
      together.forEach(([name, parameter], i) => {
        const [aloneName, aloneParameter] = alone[i]!;
        expect(aloneName).toBe(name);
        const a = parameter[field]!.map((t) => t.toArray());
        const b = aloneParameter[field]!.map((t) => t.toArray());
        expect(a, `${golden.name} ${name} ${field}`).toEqual(b);
        // The other fields stay unset in a run of one extension.
        for (const other of fields.filter((f) => f !== field)) expect(aloneParameter[other]).toBeUndefined();
      });
    }
    // .grad is computed alongside, as in an ordinary backward pass.
    const plain = run([]);
    together.forEach(([, parameter], i) => expect(parameter.grad!.toArray()).toEqual(plain[i]![1].grad!.toArray()));
  });
});

describe('a Linear layer in KFAC + KFLR + KFRA', () => {
  it('has its input factor XᵀX / N computed once, and each field holds its own tensor', () => {
    const features = 7;
    let inputFactors = 0;
    // backend-cpu, counting the products XᵀX: [N, 7]ᵀ [N, 7] (the other factors are [3, 3] and [5, 5]).
    const counting = new Proxy(cpu, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'matmul') return value;
        return (a: unknown, aShape: Shape, b: unknown, bShape: Shape, transA: boolean, ...rest: [boolean, never]) => {
          if (transA && a === b && aShape[2] === features) inputFactors += 1;
          return (value as (...args: unknown[]) => unknown).call(target, a, aShape, b, bShape, transA, ...rest);
        };
      },
    }) as Backend;
    const g = new Generator(3);
    const options = { backend: counting, dtype: 'float64' as const, generator: g };
    const model = extend(new Sequential(new Linear(features, 5, options), new ReLU(), new Linear(5, 3, options)));
    const input = g.normal([4, features], options);
    const target = tensor([0, 2, 1, 2], [4], { backend: counting, dtype: 'int32' });
    runExtensions(model, extend(new CrossEntropyLoss()), input, target, [make.kfac(), make.kflr(), make.kfra()]);
    expect(inputFactors).toBe(1);

    const first = model.parameters()[0]!;
    const values = first.kfac![1]!.toArray();
    first.kflr![1]!.dispose();
    first.kfra![1]!.dispose();
    expect(first.kfac![1]!.toArray()).toEqual(values);
  });
});
