import type { Extension, ExtensionHook } from './extension.js';

/** What `backpack()` sets for the backward passes run inside it. */
export interface BackpackOptions {
  /** The extensions that run in each backward pass. */
  readonly extensions: readonly Extension[];
  /** Runs after the extensions of each module (as BackPACK's `extension_hook`). */
  readonly extensionHook?: ExtensionHook;
}

const stack: BackpackOptions[] = [];

/** The options of the innermost running `backpack()` call, if any. */
export function activeBackpackOptions(): BackpackOptions | undefined {
  return stack[stack.length - 1];
}

/** One extension or several, as `backpack()` and `backward({ extensions })` take them. */
export type Extensions = Extension | readonly Extension[];

/** The extensions as a list. */
export function extensionList(extensions: Extensions): readonly Extension[] {
  return Array.isArray(extensions) ? (extensions as readonly Extension[]) : [extensions as Extension];
}

/**
 * Runs `fn` (typically `() => loss.backward()`) with `extensions` (one, or
 * a list) active: the backward pass computes their quantities alongside
 * `.grad`, as BackPACK's `with backpack(...)`. An optional hook runs after
 * each module's extensions. `fn` must be synchronous: one returning a
 * Promise is an error.
 *
 * ```ts
 * backpack(new BatchGrad(), () => loss.backward());
 * backpack([new BatchGrad(), new Variance()], () => loss.backward());
 * model.parameter('weight').gradBatch; // [N, out, in]
 * ```
 */
export function backpack<T>(
  extensions: Extensions,
  fn: () => T,
  options: { extensionHook?: ExtensionHook } = {},
): T {
  stack.push({ extensions: extensionList(extensions), ...options });
  let result: T;
  try {
    result = fn();
  } finally {
    stack.pop();
  }
  if (isThenable(result)) {
    // This error reports the misuse; a later rejection of the promise would only repeat it as an unhandled rejection.
    result.then(undefined, () => undefined);
    throw new TypeError(
      'backpack(): the callback returned a Promise, but it must be synchronous: the extensions are active only until it returns, ' +
        'so a backward() after an await would compute none of them; call loss.backward() directly inside the callback',
    );
  }
  return result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
