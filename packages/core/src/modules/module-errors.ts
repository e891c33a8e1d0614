import type { Module } from './module.js';

/** Errors that already passed through a module's `forward`: named there, or by their thrower. */
const named = new WeakSet<object>();

/** The built-in error classes, which a renamed error keeps. */
const BUILT_IN = [TypeError, RangeError, SyntaxError, Error] as const;

/**
 * `error` (thrown inside the forward of `module`) as an error whose message
 * names the module: `Linear '0': matmul: dtypes differ (float64 and float32)`,
 * with the original as its `cause` and the same built-in class. Returned as
 * it is when its message already starts with the module's name (the input
 * checks write it), when an inner module's forward named it already (so
 * nested modules do not prefix twice), or when it is of a class of its own
 * (which callers may catch by class).
 */
export function naming(module: Module, error: unknown): unknown {
  if (!(error instanceof Error) || named.has(error)) return error;
  const ErrorClass = BUILT_IN.find((c) => error.constructor === c);
  if (ErrorClass === undefined) return error;
  const name = module.describe();
  if (error.message.startsWith(name)) {
    named.add(error);
    return error;
  }
  const renamed = new ErrorClass(`${name}: ${error.message}`, { cause: error });
  named.add(renamed);
  return renamed;
}
