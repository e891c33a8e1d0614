/**
 * Numeric comparison with a report rather than a bare boolean, so any test
 * runner (vitest, node:test, a browser page) can print what went wrong.
 *
 * The error measure is relative to the largest expected entry:
 * `max |a - b| / max(max |b|, tiny)`. Entries much smaller than the largest
 * are thus compared to the tensor's scale, not to themselves, which is what
 * float rounding allows.
 */
import type { Tensor } from '@backpack-ts/core';

/** Anything with a shape and row-major data: a golden tensor or read-back values. */
export interface ShapedData {
  /** Dimensions. */
  readonly shape: readonly number[];
  /** The elements, row-major. */
  readonly data: ArrayLike<number>;
}

/** Options of {@link compareArrays} and the other comparisons. */
export interface CompareOptions {
  /** Largest accepted relative error (e.g. 1e-10 for float64, 1e-4 for float32). */
  readonly tolerance: number;
  /** Names the compared quantity in the message, e.g. `"seed_linear 1.weight BatchGrad"`. */
  readonly label?: string;
  /** Floor of the scale, so an all-zero expectation does not divide by zero (default 1e-300). */
  readonly tiny?: number;
}

/** The outcome of one comparison. */
export interface CompareReport {
  /** What was compared (the option's `label`, default `'value'`). */
  readonly label: string;
  /** Whether `relError` is within the tolerance (false on a shape mismatch, a missing value, or NaN). */
  readonly ok: boolean;
  /** max |actual - expected|; Infinity on a shape mismatch, NaN when a value is NaN. */
  readonly maxAbsError: number;
  /** max |expected|. */
  readonly scale: number;
  /** maxAbsError / max(scale, tiny). */
  readonly relError: number;
  /** The largest accepted `relError`. */
  readonly tolerance: number;
  /** Where the largest error is (multi-index) and the two values there. */
  readonly worst?: {
    /** Multi-index of the entry. */
    readonly index: readonly number[];
    /** The computed value there. */
    readonly actual: number;
    /** The expected value there. */
    readonly expected: number;
  };
  /** Set when the comparison could not be made elementwise (missing value, shape mismatch). */
  readonly problem?: string;
  /** One line for logs: label, verdict, errors and the worst entry. */
  readonly message: string;
}

const DEFAULT_TINY = 1e-300;

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The multi-index of row-major position `flat` in `shape` (for messages naming the worst entry). */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    index[d] = size === 0 ? 0 : flat % size;
    flat = size === 0 ? 0 : Math.floor(flat / size);
  }
  return index;
}

/** A failed report for a comparison that could not be made elementwise (missing value, wrong structure). */
export function failedReport(label: string, tolerance: number, problem: string): CompareReport {
  return {
    label,
    ok: false,
    maxAbsError: Number.POSITIVE_INFINITY,
    scale: Number.NaN,
    relError: Number.POSITIVE_INFINITY,
    tolerance,
    problem,
    message: `${label}: FAIL (${problem})`,
  };
}

/** Compares two row-major arrays with their shapes. */
export function compareArrays(actual: ShapedData, expected: ShapedData, options: CompareOptions): CompareReport {
  const label = options.label ?? 'value';
  const { tolerance } = options;
  const sameShape =
    actual.shape.length === expected.shape.length && actual.shape.every((d, i) => d === expected.shape[i]);
  if (!sameShape) {
    return failedReport(label, tolerance, `shape ${formatShape(actual.shape)} != expected ${formatShape(expected.shape)}`);
  }
  if (actual.data.length !== expected.data.length) {
    return failedReport(label, tolerance, `${actual.data.length} values != expected ${expected.data.length}`);
  }
  let maxAbsError = 0;
  let scale = 0;
  let worstAt = -1;
  let sawNaN = false;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const b = expected.data[i]!;
    scale = Math.max(scale, Math.abs(b));
    const error = Math.abs(a - b);
    if (Number.isNaN(error)) {
      if (!sawNaN) worstAt = i;
      sawNaN = true;
    } else if (!sawNaN && (error > maxAbsError || worstAt < 0)) {
      maxAbsError = error;
      worstAt = i;
    }
  }
  if (sawNaN) maxAbsError = Number.NaN;
  const relError = maxAbsError / Math.max(scale, options.tiny ?? DEFAULT_TINY);
  const ok = !sawNaN && relError <= tolerance;
  const worst =
    worstAt < 0
      ? undefined
      : { index: unravel(worstAt, expected.shape), actual: actual.data[worstAt]!, expected: expected.data[worstAt]! };
  const where =
    worst === undefined ? '' : `; worst at [${worst.index.join(', ')}]: ${worst.actual} vs expected ${worst.expected}`;
  const message =
    `${label}: ${ok ? 'ok' : 'FAIL'} rel ${relError.toExponential(2)} (tolerance ${tolerance.toExponential(0)}, ` +
    `max abs ${maxAbsError.toExponential(2)}, scale ${scale.toExponential(2)}${where})`;
  return { label, ok, maxAbsError, scale, relError, tolerance, ...(worst && { worst }), message };
}

/** Compares a tensor (read back to JavaScript) with expected values; a missing tensor is a failure. */
export function compareTensor(
  actual: Tensor | undefined,
  expected: ShapedData,
  options: CompareOptions,
): CompareReport {
  if (actual === undefined) return failedReport(options.label ?? 'value', options.tolerance, 'no value was computed');
  return compareArrays({ shape: actual.shape, data: actual.toArray() }, expected, options);
}

/**
 * Compares only the shape (for Monte-Carlo quantities, whose values depend on
 * the random numbers drawn): ok with error 0 when the shapes agree.
 */
export function compareShapes(actual: Tensor | undefined, expected: ShapedData, options: CompareOptions): CompareReport {
  const label = options.label ?? 'value';
  if (actual === undefined) return failedReport(label, options.tolerance, 'no value was computed');
  const same = actual.shape.length === expected.shape.length && actual.shape.every((d, i) => d === expected.shape[i]);
  if (!same) return failedReport(label, options.tolerance, `shape ${formatShape(actual.shape)} != expected ${formatShape(expected.shape)}`);
  return {
    label,
    ok: true,
    maxAbsError: 0,
    scale: 0,
    relError: 0,
    tolerance: options.tolerance,
    message: `${label}: ok (shape ${formatShape(expected.shape)}; values are random)`,
  };
}

/** Compares two scalars (e.g. loss values) with the same measure. */
export function compareNumbers(actual: number, expected: number, options: CompareOptions): CompareReport {
  return compareArrays({ shape: [], data: [actual] }, { shape: [], data: [expected] }, options);
}

/** Throws an Error listing every failed report (one message a line); returns the reports otherwise. */
export function assertReports(reports: readonly CompareReport[]): readonly CompareReport[] {
  const failed = reports.filter((report) => !report.ok);
  if (failed.length > 0) {
    throw new Error(`${failed.length} of ${reports.length} comparisons failed:\n${failed.map((r) => r.message).join('\n')}`);
  }
  return reports;
}

/** The messages of the failed reports, in order (`[]` when all passed): what a test asserts is empty. */
export function failedMessages(reports: readonly CompareReport[]): string[] {
  return reports.filter((report) => !report.ok).map((report) => report.message);
}

/** The largest relative error of a set of reports (Infinity if one could not be compared). */
export function worstRelError(reports: readonly CompareReport[]): number {
  return reports.reduce((worst, report) => (Number.isNaN(report.relError) ? Number.NaN : Math.max(worst, report.relError)), 0);
}
