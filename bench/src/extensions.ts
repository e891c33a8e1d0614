/**
 * The extension configurations of the benchmark: the plain gradient, each
 * extension the reference timed (named as in its JSON), the four first-order
 * extensions in one pass, and BatchGrad and DiagGGNExact in the
 * convolutions' memory mode (`convSaveMemory`, BackPACK's
 * `weight_jac_t_save_memory`), beside their default mode. Monte-Carlo
 * extensions draw one sample, as in the reference.
 */
import { EXTENSIONS } from '@backpack-ts/catalog';
import type { Extension } from '@backpack-ts/core';

export const EXTENSION_NAMES = [
  'grad',
  'BatchGrad',
  'Variance',
  'SumGradSquared',
  'BatchL2Grad',
  'DiagGGNExact',
  'DiagGGNMC',
  'DiagHessian',
  'KFAC',
  'KFLR',
  'KFRA',
  'FirstOrder',
  'BatchGradConvSaveMemory',
  'DiagGGNExactConvSaveMemory',
] as const;
export type ExtensionName = (typeof EXTENSION_NAMES)[number];

/** How each configuration is shown in the table. */
export const EXTENSION_LABELS: Readonly<Record<ExtensionName, string>> = {
  grad: 'grad (no extension)',
  BatchGrad: 'BatchGrad',
  Variance: 'Variance',
  SumGradSquared: 'SumGradSquared',
  BatchL2Grad: 'BatchL2Grad',
  DiagGGNExact: 'DiagGGNExact',
  DiagGGNMC: 'DiagGGNMC (1 sample)',
  DiagHessian: 'DiagHessian',
  KFAC: 'KFAC (1 sample)',
  KFLR: 'KFLR',
  KFRA: 'KFRA',
  FirstOrder: 'all 4 first-order',
  BatchGradConvSaveMemory: 'BatchGrad (convSaveMemory)',
  DiagGGNExactConvSaveMemory: 'DiagGGNExact (convSaveMemory)',
};

/** Seed of the Monte-Carlo extensions. */
const MC_SEED = 0;

/** The extensions of one configuration, freshly constructed (none for the plain gradient). */
export function makeExtensions(name: ExtensionName): Extension[] {
  const create = (extension: string) => EXTENSIONS.get(extension)!.create({ mcSamples: 1, seed: MC_SEED });
  switch (name) {
    case 'grad':
      return [];
    case 'FirstOrder':
      return ['BatchGrad', 'Variance', 'SumGradSquared', 'BatchL2Grad'].map(create);
    case 'BatchGradConvSaveMemory':
      return [EXTENSIONS.get('BatchGrad')!.create({ convSaveMemory: true })];
    case 'DiagGGNExactConvSaveMemory':
      return [EXTENSIONS.get('DiagGGNExact')!.create({ convSaveMemory: true })];
    default:
      return [create(name)];
  }
}
