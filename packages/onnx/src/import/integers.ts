/**
 * Integers a model supplies (sizes, paddings, strides, axes, dimensions):
 * the range the importer accepts and how they appear in messages. int64
 * values beyond 2^53 arrive rounded (JavaScript numbers); every use checks
 * its range, so such a value ends in an error that names it, never in a
 * wrong size or a failed allocation.
 */

/**
 * The largest dimension, size, padding, stride or dilation accepted:
 * 2^31 - 1, far beyond any model the importer can run (the memory limit
 * refuses much less).
 */
export const MAX_DIMENSION = 2 ** 31 - 1;

/** Whether `value` is an integer in `[min, max]`. */
export function isIntegerIn(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

/** `value` for a message: as it is, or marked as rounded when it lies beyond 2^53. */
export function formatInteger(value: number): string {
  return Number.isInteger(value) && !Number.isSafeInteger(value) ? `${value.toExponential(6)} (beyond 2^53)` : String(value);
}

/** `"must be an integer in [0, 2147483647]"`, the tail of range errors. */
export function rangeText(min: number, max: number): string {
  return `must be an integer in [${min}, ${max}]`;
}
