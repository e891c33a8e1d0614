/**
 * The runner-independent part of a golden test file: which cases to lay out,
 * which of them to skip and why, and verbose logging of comparisons. A test
 * file adds only its runner's `describe`/`it`/`expect`.
 */
import type { CompareReport } from '../compare.js';
import { unsupportedTypes } from './build-model.js';
import { GOLDEN_DIR_ENV, goldenDir, listGoldenCases, loadGoldenCase, type GoldenCase } from './load.js';

/** The environment variable that, set to `1`, asks golden tests to print every comparison. */
export const GOLDEN_VERBOSE_ENV = 'BACKPACK_GOLDEN_VERBOSE';

/** One golden case as a test file lays it out. */
export interface GoldenTestCase {
  /** The case as loaded. */
  readonly golden: GoldenCase;
  /** Layer types of the case that core lacks (empty when core can build it). */
  readonly missing: readonly string[];
  /** Why the case is skipped, e.g. `"conv_x: skipped: layer Foo not implemented yet"`; set when `missing` is not empty. */
  readonly skipReason?: string;
}

/** The golden cases to lay out as tests, or why there are none. */
export interface GoldenTestCases {
  /** Every golden case found, loaded, sorted by name. */
  readonly cases: readonly GoldenTestCase[];
  /** Set when no golden file was found (outside CI): why the suite is skipped, to print. */
  readonly skipMessage?: string;
}

/** Whether the environment variable `CI` is set (to anything but empty, `0` or `false`). */
export function runningInCI(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * Loads every golden case in `dir` (default: `goldenDir()`) with the layers
 * core lacks. When there are none, says where the files were looked for; in
 * CI ({@link runningInCI}) it throws instead, so that a missing golden
 * folder fails the suite rather than skipping it.
 */
export function goldenTestCases(dir: string | undefined = goldenDir()): GoldenTestCases {
  const files = listGoldenCases(dir);
  if (files.length === 0) {
    const missing = `golden files not found at ${dir ?? '(no repository root found)'} (set ${GOLDEN_DIR_ENV} to their folder)`;
    if (runningInCI()) throw new Error(`${missing}: CI is set, so the golden suite fails instead of skipping`);
    return { cases: [], skipMessage: `${missing}; suite skipped` };
  }
  return {
    cases: files.map((file) => {
      const golden = loadGoldenCase(file);
      const missing = unsupportedTypes(golden);
      if (missing.length === 0) return { golden, missing };
      return { golden, missing, skipReason: `${golden.name}: skipped: layer ${missing.join(', ')} not implemented yet` };
    }),
  };
}

/** Whether golden tests should print every comparison (`BACKPACK_GOLDEN_VERBOSE=1`). */
export function goldenVerbose(): boolean {
  return process.env[GOLDEN_VERBOSE_ENV] === '1';
}

/** Prints every report's message when {@link goldenVerbose}. */
export function logReportsIfVerbose(reports: readonly CompareReport[]): void {
  if (goldenVerbose()) for (const report of reports) console.log(report.message);
}

/**
 * The largest relative error per key (case, dtype, quantity) over a run of
 * tests, printed as a summary at the end.
 */
export class WorstRelErrors {
  private readonly worst = new Map<string, number>();

  /** Records the largest relative error of `reports` under `key` (NaN stays NaN). */
  record(key: string, reports: readonly CompareReport[]): void {
    for (const report of reports) this.worst.set(key, Math.max(this.worst.get(key) ?? 0, report.relError));
  }

  /** `heading` followed by one `key: max relative error e` line per key; undefined when nothing was recorded. */
  summary(heading: string): string | undefined {
    if (this.worst.size === 0) return undefined;
    const lines = [...this.worst].map(([key, error]) => `  ${key}: max relative error ${error.toExponential(2)}`);
    return `${heading}\n${lines.join('\n')}`;
  }
}
