/** What an iterative algorithm does when it stops before meeting its tolerance: throw (default) or return with `converged: false`. */
export type OnNonConvergence = 'throw' | 'return';

/** Throws unless `value` is an {@link OnNonConvergence}. */
export function checkOnNonConvergence(owner: string, value: string): OnNonConvergence {
  if (value !== 'throw' && value !== 'return') throw new RangeError(`${owner}: onNonConvergence must be 'throw' or 'return', got '${value}'`);
  return value;
}

/** Throws unless `value` is a finite number of at least 0. */
export function checkNonNegative(owner: string, name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${owner}: ${name} must be a finite number >= 0, got ${value}`);
  return value;
}
