/** Bounds a numeric option must respect; each end open or closed. */
export interface NumberBounds {
  /** Smallest allowed value (inclusive). */
  readonly min?: number;
  /** Values must be above this (exclusive). */
  readonly above?: number;
  /** Values must be below this (exclusive). */
  readonly below?: number;
}

/**
 * `value` if it is a finite number within `bounds`, else a RangeError naming
 * the optimiser, the option and the value (`SGD: lr must be >= 0, got -0.1`).
 */
export function checkNumber(owner: string, option: string, value: unknown, bounds: NumberBounds = {}): number {
  const { min, above, below } = bounds;
  const wanted = [
    min !== undefined ? `>= ${min}` : undefined,
    above !== undefined ? `> ${above}` : undefined,
    below !== undefined ? `< ${below}` : undefined,
  ].filter((part) => part !== undefined);
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (min === undefined || value >= min) &&
    (above === undefined || value > above) &&
    (below === undefined || value < below);
  if (!ok) {
    throw new RangeError(`${owner}: ${option} must be a finite number${wanted.length > 0 ? ` ${wanted.join(' and ')}` : ''}, got ${String(value)}`);
  }
  return value;
}

/** `value` if it is a boolean, else a TypeError naming the optimiser and the option. */
export function checkBoolean(owner: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${owner}: ${option} must be true or false, got ${String(value)}`);
  return value;
}

/** `value` if it is one of `choices`, else a TypeError listing them. */
export function checkChoice<T extends string>(owner: string, option: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    throw new TypeError(`${owner}: ${option} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${value === undefined ? 'nothing' : `'${String(value)}'`}`);
  }
  return value as T;
}
