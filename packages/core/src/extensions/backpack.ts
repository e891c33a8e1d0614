import type { Extension, ExtensionHook } from './extension.js';

/** What `backpack()` sets for the backward passes run inside it. */
export interface BackpackOptions {
  readonly extensions: readonly Extension[];
  readonly extensionHook?: ExtensionHook;
}

const stack: BackpackOptions[] = [];

/** The options of the innermost running `backpack()` call, if any. */
export function activeBackpackOptions(): BackpackOptions | undefined {
  return stack[stack.length - 1];
}

/**
 * Runs `fn` (typically `() => loss.backward()`) with `extensions` active: the
 * backward pass computes their quantities alongside `.grad`, as BackPACK's
 * `with backpack(...)`. An optional hook runs after each module's extensions.
 *
 * ```ts
 * backpack([new BatchGrad(), new Variance()], () => loss.backward());
 * model.parameter('weight').gradBatch; // [N, out, in]
 * ```
 */
export function backpack<T>(
  extensions: readonly Extension[],
  fn: () => T,
  options: { extensionHook?: ExtensionHook } = {},
): T {
  stack.push({ extensions, ...options });
  try {
    return fn();
  } finally {
    stack.pop();
  }
}
