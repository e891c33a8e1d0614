/**
 * Every quantity of every extension of the catalog for one model, to compare
 * two ways of writing the same network (modules or ops, a module or its
 * functional form) quantity by quantity.
 */
import { EXTENSIONS } from '@backpack-ts/catalog';
import { backpack, type Module, type Quantity, type Tensor } from '@backpack-ts/core';
import { expectClose } from './close.js';

/** Per extension name: for each parameter (in `parameters()` order), its `.grad`, then its quantity's tensors, flat. */
export type Quantities = Map<string, number[][]>;

/**
 * Runs a fresh forward pass (`loss()`) and one backward pass per extension
 * (Monte-Carlo ones seeded with 0, so two models draw the same numbers), and
 * collects what each stores.
 */
export function extensionQuantities(model: Module, loss: () => Tensor, names: readonly string[] = [...EXTENSIONS.keys()]): Quantities {
  const results: Quantities = new Map();
  for (const name of names) {
    const extension = EXTENSIONS.get(name)!.create({ seed: 0 });
    model.zeroGrad();
    backpack([extension], () => loss().backward());
    results.set(
      name,
      model.parameters().flatMap((parameter) => {
        const quantity = (parameter as unknown as Record<string, Quantity | undefined>)[extension.savefield];
        if (quantity === undefined) throw new Error(`${name} stored nothing on a parameter of shape [${parameter.data.shape.join(', ')}]`);
        const tensors = Array.isArray(quantity) ? quantity : [quantity as Tensor];
        return [parameter.grad!, ...tensors].map((t) => Array.from(t.toArray()));
      }),
    );
  }
  return results;
}

/** Asserts that two models gave every quantity equal within `rtol`. */
export function expectSameQuantities(actual: Quantities, expected: Quantities, rtol: number): void {
  for (const [name, arrays] of expected) {
    const got = actual.get(name)!;
    arrays.forEach((values, i) => expectClose(got[i]!, values, rtol));
  }
}
