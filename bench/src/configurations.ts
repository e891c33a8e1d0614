/**
 * The rows of the main table: the extension configurations of `extensions.ts`
 * and the reference's two Hessian-free products (`GGNVP`, `HVP`, named as in
 * its JSON), measured with @backpack-ts/curvmatprod's products
 * (`products.ts`).
 */
import { EXTENSION_LABELS, EXTENSION_NAMES, type ExtensionName } from './extensions.js';

export const PRODUCT_NAMES = ['GGNVP', 'HVP'] as const;
export type ProductName = (typeof PRODUCT_NAMES)[number];

export type ConfigurationName = ExtensionName | ProductName;
export const CONFIGURATION_NAMES: readonly ConfigurationName[] = [...EXTENSION_NAMES, ...PRODUCT_NAMES];

/** How each configuration is shown in the table. */
export const CONFIGURATION_LABELS: Readonly<Record<ConfigurationName, string>> = {
  ...EXTENSION_LABELS,
  GGNVP: 'GGN-vector product',
  HVP: 'Hessian-vector product',
};

/** Configurations the reference has no figure for (BackPACK times each first-order extension alone, and in the default memory mode). */
export const WITHOUT_REFERENCE: readonly ConfigurationName[] = ['FirstOrder', 'BatchGradConvSaveMemory', 'DiagGGNExactConvSaveMemory'];

/** Whether a configuration is one of the extension configurations (rather than a Hessian-free product). */
export function isExtensionName(name: ConfigurationName): name is ExtensionName {
  return (EXTENSION_NAMES as readonly string[]).includes(name);
}
