/**
 * The conformance report: a flat list of checks (name, largest error, pass),
 * summaries per family, and helpers that print it or throw on failure, so any
 * test runner (or none) can use it.
 */
import type { FloatDType } from '@backpack-ts/core';

/** One comparison (or property check) of the conformance kit. */
export interface ConformanceCheck {
  /** `kernels`: the backend's kernels against backend-cpu in float64; `golden`: end to end against BackPACK. */
  readonly part: 'kernels' | 'golden';
  /** Kernel family (`unary`, `binary`, `binaryScalar`, `reduce`, `matmul`, `layout`, `window`, `nn`, `nan`, `memory`) or, for golden checks, the extension group (`forward`, `first-order`, `ggn`, `hessian`, `kronecker`). */
  readonly family: string;
  /** Names what was checked, e.g. `unary exp [3, 4] sliced`. */
  readonly name: string;
  /** Largest relative error (`max |a - b| / max |b|`); Infinity when the check could not compare (threw, wrong shape). */
  readonly maxError: number;
  /** The tolerance it was held to (0 for exact checks). */
  readonly tolerance: number;
  /** Whether the check passed. */
  readonly pass: boolean;
  /** One line: name, verdict, error and the worst entry. */
  readonly message: string;
}

/** Largest error and failures of one family. */
export interface FamilySummary {
  /** The part the family belongs to. */
  readonly part: ConformanceCheck['part'];
  /** The family. */
  readonly family: string;
  /** Number of checks. */
  readonly checks: number;
  /** Number of failed checks. */
  readonly failed: number;
  /** Largest error among the checks with a tolerance (exact checks excluded, they are 0 or failed). */
  readonly maxError: number;
}

/** What `runBackendConformance` found: every check, the failures, and a summary per family. */
export interface ConformanceReport {
  /** The backend's name. */
  readonly backend: string;
  /** The float dtype tested. */
  readonly dtype: FloatDType;
  /** The relative tolerance of the run. */
  readonly tolerance: number;
  /** Every check, in the order run. */
  readonly checks: readonly ConformanceCheck[];
  /** Whether every check passed. */
  readonly passed: boolean;
  /** The checks that failed. */
  readonly failures: readonly ConformanceCheck[];
  /** One summary per kernel family and golden extension group. */
  readonly families: readonly FamilySummary[];
  /** What was not run and why (golden files absent, a case needs a layer core lacks, int32 not stored, ...). */
  readonly skipped: readonly string[];
  /** Wall-clock time of the run. */
  readonly durationMs: number;
}

export function summarize(checks: readonly ConformanceCheck[]): FamilySummary[] {
  const byFamily = new Map<string, { part: ConformanceCheck['part']; family: string; checks: number; failed: number; maxError: number }>();
  for (const check of checks) {
    const key = `${check.part}/${check.family}`;
    let entry = byFamily.get(key);
    if (entry === undefined) {
      entry = { part: check.part, family: check.family, checks: 0, failed: 0, maxError: 0 };
      byFamily.set(key, entry);
    }
    entry.checks += 1;
    if (!check.pass) entry.failed += 1;
    if (check.tolerance > 0 || !check.pass) entry.maxError = Math.max(entry.maxError, check.maxError);
  }
  return [...byFamily.values()];
}

/** A readable multi-line summary: one line per family, then every failed check. */
export function formatConformanceReport(report: ConformanceReport, options: { verbose?: boolean } = {}): string {
  const failed = report.failures.length;
  const lines = [
    `backpack-ts conformance: backend '${report.backend}', ${report.dtype}, tolerance ${report.tolerance.toExponential(0)}: ` +
      `${report.checks.length - failed} passed, ${failed} failed (${(report.durationMs / 1000).toFixed(1)} s)`,
  ];
  for (const family of report.families) {
    const verdict = family.failed === 0 ? 'ok  ' : 'FAIL';
    lines.push(
      `  ${verdict} ${`${family.part}/${family.family}`.padEnd(24)} ${String(family.checks).padStart(4)} checks, ` +
        `max error ${family.maxError.toExponential(2)}${family.failed > 0 ? `, ${family.failed} failed` : ''}`,
    );
  }
  for (const note of report.skipped) lines.push(`  skipped: ${note}`);
  const listed = options.verbose === true ? report.checks : report.failures;
  if (listed.length > 0) lines.push(options.verbose === true ? 'checks:' : 'failures:');
  for (const check of listed) lines.push(`  ${check.message}`);
  return lines.join('\n');
}

/** Throws an Error whose message is the formatted report when any check failed; returns the report otherwise. */
export function assertConformance(report: ConformanceReport): ConformanceReport {
  if (!report.passed) throw new Error(formatConformanceReport(report));
  return report;
}
