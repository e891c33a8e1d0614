/**
 * The runner-independent part of a golden test file: which cases to lay out,
 * which of them to skip and why, and verbose logging of comparisons. A test
 * file adds only its runner's `describe`/`it`/`expect`.
 */
import type { CompareReport } from '../compare.js';
import { unsupportedTypes } from './build-model.js';
import { existsSync } from 'node:fs';
import { GOLDEN_DIR_ENV, goldenDirs, listGoldenCases, loadGoldenCase, type GoldenCase, type GoldenCaseFile } from './load.js';

/** The environment variable that, set to `1`, asks golden tests to print every comparison. */
export const GOLDEN_VERBOSE_ENV = 'BACKPACK_GOLDEN_VERBOSE';

/** One golden case as a test file lays it out. */
export interface GoldenTestCase {
  /** The case as loaded. */
  readonly golden: GoldenCase;
  /** Where it was found. */
  readonly file: GoldenCaseFile;
  /** Layer types of the case that core lacks (empty when core can build it). */
  readonly missing: readonly string[];
  /**
   * Why the case cannot run, e.g. `"rnn_x: unknown layer type RNN, ReduceTuple"`;
   * set when `missing` is not empty. Test files report it as a failure
   * ({@link failUnknownTypes}), never as a skip.
   */
  readonly problem?: string;
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
 * Loads every golden case in `dirs` (default: `goldenDirs()`) with the layers
 * core lacks. When there are none, says where the files were looked for; in
 * CI ({@link runningInCI}) it throws instead, also when one of the folders is
 * missing, so that a missing golden folder fails the suite rather than
 * skipping (part of) it.
 */
export function goldenTestCases(dirs: string | readonly string[] = goldenDirs()): GoldenTestCases {
  const folders = typeof dirs === 'string' ? [dirs] : dirs;
  const where = folders.length === 0 ? '(no repository root found)' : folders.join(' and ');
  const absent = folders.filter((dir) => !existsSync(dir));
  if (runningInCI() && (absent.length > 0 || folders.length === 0)) {
    throw new Error(`golden files not found at ${absent.join(' and ') || where} (set ${GOLDEN_DIR_ENV} to their folders): CI is set, so the golden suite fails instead of skipping`);
  }
  const files = listGoldenCases(folders);
  if (files.length === 0) {
    return { cases: [], skipMessage: `golden files not found at ${where} (set ${GOLDEN_DIR_ENV} to their folders); suite skipped` };
  }
  return {
    cases: files.map((file) => {
      const golden = loadGoldenCase(file);
      const missing = unsupportedTypes(golden);
      if (missing.length === 0) return { golden, file, missing };
      return { golden, file, missing, problem: `${golden.name}: unknown layer type ${missing.join(', ')}` };
    }),
  };
}

/** Throws a case's {@link GoldenTestCase.problem}: how a test file reports a case core cannot build yet (as a failing test). */
export function failUnknownTypes(problem: string): never {
  throw new Error(problem);
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
