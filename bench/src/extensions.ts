/**
 * The twelve extension configurations of the benchmark: the plain gradient,
 * each extension the reference timed (named as in its JSON), and the four
 * first-order extensions in one pass. Monte-Carlo extensions draw one sample,
 * as in the reference.
 */
import type { Extension } from '@backpack-ts/core';
import { DiagGGNExact, DiagGGNMC } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';

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
};

/** Seed of the Monte-Carlo extensions. */
const MC_SEED = 0;

/** The extensions of one configuration, freshly constructed (none for the plain gradient). */
export function makeExtensions(name: ExtensionName): Extension[] {
  switch (name) {
    case 'grad':
      return [];
    case 'BatchGrad':
      return [new BatchGrad()];
    case 'Variance':
      return [new Variance()];
    case 'SumGradSquared':
      return [new SumGradSquared()];
    case 'BatchL2Grad':
      return [new BatchL2Grad()];
    case 'DiagGGNExact':
      return [new DiagGGNExact()];
    case 'DiagGGNMC':
      return [new DiagGGNMC({ mcSamples: 1, seed: MC_SEED })];
    case 'DiagHessian':
      return [new DiagHessian()];
    case 'KFAC':
      return [new KFAC({ mcSamples: 1, seed: MC_SEED })];
    case 'KFLR':
      return [new KFLR()];
    case 'KFRA':
      return [new KFRA()];
    case 'FirstOrder':
      return [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()];
  }
}
