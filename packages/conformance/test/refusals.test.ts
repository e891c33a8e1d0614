/**
 * What every one of the 15 extensions and the 3 curvature products refuses, before the backward pass
 * changes anything, with a message naming the extension, the module and
 * the reason.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { CURVATURE_PRODUCT_EXTENSIONS, EXTENSIONS } from '@backpack-ts/catalog';
import { CrossEntropyLoss, Generator, Linear, backpack, extend, tensor } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';

/** Each extension's known options (BackPACK's arguments, in this library's spelling). */
const KNOWN_OPTIONS: Readonly<Record<string, string>> = {
  BatchGrad: 'subsampling, convSaveMemory',
  DiagGGNExact: 'convSaveMemory',
  BatchDiagGGNExact: 'convSaveMemory',
  SqrtGGNExact: 'subsampling, convSaveMemory',
  SqrtGGNMC: 'mcSamples, generator, seed, subsampling, convSaveMemory',
  DiagGGNMC: 'mcSamples, generator, seed, convSaveMemory',
  BatchDiagGGNMC: 'mcSamples, generator, seed, convSaveMemory',
  KFAC: 'mcSamples, seed, generator',
  KFRA: 'curvature',
  HMP: 'savefield',
  GGNMP: 'savefield',
  PCHMP: 'modify, savefield',
};

/** A new instance of the extension called `name`, from either table of the catalog. */
const create = (name: string) => EXTENSIONS.get(name)?.create({ seed: 0 }) ?? CURVATURE_PRODUCT_EXTENSIONS.get(name)!.create();

describe.each([...EXTENSIONS.keys(), ...CURVATURE_PRODUCT_EXTENSIONS.keys()])('%s', (name) => {
  it('refuses an unknown option, listing the known ones', () => {
    const make = create(name).constructor as new (options: object) => unknown;
    const known = KNOWN_OPTIONS[name];
    expect(() => new make({ mcSampels: 2 })).toThrow(
      `${name}: unknown option 'mcSampels' (${known === undefined ? 'it takes no options' : `known options: ${known}`})`,
    );
  });

  it("refuses a loss with reduction 'none' (a one-element loss, which backward() accepts)", () => {
    const layer = extend(new Linear(2, 3, { backend: cpu, dtype: 'float64', generator: new Generator(1) }));
    const loss = extend(new CrossEntropyLoss('none'));
    const value = loss.forward(layer.forward(tensor([0.5, -1], [1, 2], { backend: cpu, dtype: 'float64' })), tensor([2], [1], { backend: cpu, dtype: 'int32' }));
    expect(() => backpack([create(name)], () => value.backward())).toThrow(
      `${name} cannot run: CrossEntropyLoss has reduction 'none', which gives one loss per element rather than one objective`,
    );
    expect(layer.weight.grad).toBeUndefined();
  });
});
