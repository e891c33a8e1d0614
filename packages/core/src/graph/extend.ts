import type { Module } from '../modules/module.js';

/**
 * Names every module of a model (or a loss) by its dotted path, for error
 * messages (`Linear '1'`). Returns the same module. As BackPACK's `extend`,
 * but optional: modules record their calls whenever gradients are needed,
 * extended or not.
 */
export function extend<M extends Module>(module: M): M {
  for (const [path, child] of module.namedModules()) child.path = path;
  return module;
}
