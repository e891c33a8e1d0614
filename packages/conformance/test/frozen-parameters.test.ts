/**
 * Frozen parameters (`requiresGrad = false`) with all 15 extensions and the 3
 * curvature products (their blocks applied to the identity): they get
 * no quantity, and every other parameter gets exactly what it gets when
 * nothing is frozen (the Monte-Carlo extensions with the same seed).
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { CURVATURE_PRODUCT_EXTENSIONS, EXTENSIONS } from '@backpack-ts/catalog';
import { backpack, eye, reshape, type Parameter, type Quantity, type Tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { buildSupportedGoldenModel, syntheticGoldenCase, type GoldenLayerSpec } from '../src/index.js';

const networks: readonly { name: string; layers: GoldenLayerSpec[]; inputShape: number[]; frozen: string[] }[] = [
  {
    name: 'Linear, Tanh, Linear',
    layers: [{ type: 'Linear', in: 4, out: 5 }, { type: 'Tanh' }, { type: 'Linear', in: 5, out: 3 }],
    inputShape: [4],
    frozen: ['0.weight', '2.bias'],
  },
  {
    name: 'Conv2d (frozen), BatchNorm2d, ReLU, Flatten, Linear',
    layers: [
      { type: 'Conv2d', in: 1, out: 2, kernel: 2 },
      { type: 'BatchNorm2d', features: 2 },
      { type: 'ReLU' },
      { type: 'Flatten' },
      { type: 'Linear', in: 8, out: 3 },
    ],
    inputShape: [1, 3, 3],
    frozen: ['0.weight', '0.bias', '1.weight'],
  },
];

/** The quantity's numbers: a product function's are its block, the product with the identity. */
function values(q: Quantity | undefined, parameter: Parameter): number[][] {
  if (q === undefined) return [];
  if (typeof q === 'function') {
    const { shape, size } = parameter.data;
    return [Array.from(q(reshape(eye(size, { backend: cpu, dtype: 'float64' }), [size, ...shape])).toArray())];
  }
  return (Array.isArray(q) ? q : [q as Tensor]).map((t: Tensor) => Array.from(t.toArray()));
}

describe.each(networks)('$name', ({ name, layers, inputShape, frozen }) => {
  const golden = syntheticGoldenCase({ name, layers, loss: { type: 'CrossEntropyLoss' }, batch: 3, inputShape }, 4, cpu);

  it.each([...EXTENSIONS.keys(), ...CURVATURE_PRODUCT_EXTENSIONS.keys()])('%s: nothing for the frozen parameters, the same for the others', (extensionName) => {
    const run = (freeze: boolean) => {
      const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
      const parameters = new Map(built.model.namedParameters());
      if (freeze) for (const p of frozen) parameters.get(p)!.requiresGrad = false;
      const extension = EXTENSIONS.get(extensionName)?.create({ seed: 3, mcSamples: 2 }) ?? CURVATURE_PRODUCT_EXTENSIONS.get(extensionName)!.create();
      const loss = built.loss.forward(built.model.forward(built.input), built.target);
      backpack([extension], () => loss.backward());
      return new Map([...parameters].map(([p, parameter]) => [p, { parameter, grad: parameter.grad, quantity: (parameter as unknown as Record<string, Quantity | undefined>)[extension.savefield] }]));
    };
    const [all, some] = [run(false), run(true)];
    for (const [p, result] of some) {
      if (frozen.includes(p)) {
        expect(result.grad, p).toBeUndefined();
        expect(result.quantity, p).toBeUndefined();
      } else {
        const unfrozen = all.get(p)!;
        expect(values(result.quantity, result.parameter), p).toEqual(values(unfrozen.quantity, unfrozen.parameter));
        expect(values(result.grad, result.parameter), p).toEqual(values(unfrozen.grad, unfrozen.parameter));
      }
    }
  });
});
