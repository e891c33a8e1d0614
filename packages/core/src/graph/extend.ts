import { LeafModule } from '../modules/leaf-module.js';
import type { Module } from '../modules/module.js';

/**
 * Prepares a model (or a loss) for backward passes: every leaf module in it
 * records its forward calls in a graph, and modules learn their dotted path
 * for error messages. Returns the same module. Call once, before the forward
 * pass, as BackPACK's `extend`.
 */
export function extend<M extends Module>(module: M): M {
  for (const [path, child] of module.namedModules()) {
    child.path = path;
    if (child instanceof LeafModule) child.extended = true;
  }
  return module;
}
