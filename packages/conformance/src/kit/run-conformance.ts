/**
 * `runBackendConformance`: one call that tells a backend author whether a
 * backend is right.
 */
import type { Backend, DType, FloatDType } from '@backpack-ts/core';
import type { RunPass } from '../golden/run.js';
import { runGoldenSuite } from './golden-suite.js';
import { kernelCases } from './kernel-cases.js';
import { dtypesOf, runKernelCase } from './kernel-check.js';
import { summarize, type ConformanceCheck, type ConformanceReport } from './report.js';

/** Options of `runBackendConformance`. */
export interface ConformanceOptions {
  /** The float dtype to test (int32 kernels are tested too when the backend stores int32). */
  readonly dtype: FloatDType;
  /** Largest accepted relative error (`max |a - b| / max |b|` per output). Default 1e-10 for float64, 1e-4 for float32. */
  readonly tolerance?: number;
  /** Seed of the random inputs (default 0). */
  readonly seed?: number;
  /** Run the kernel checks (default true). */
  readonly kernels?: boolean;
  /** Only kernel checks whose name contains one of these strings (e.g. `['matmul', 'unary exp']`). */
  readonly only?: readonly string[];
  /**
   * The golden suite (default true): `false` to skip it, or where to find the
   * files, which cases and extension groups (`first-order`, `ggn`,
   * `hessian`, `kronecker`) to run, and how each backward pass runs
   * (`runPass`, e.g. through a compiled step).
   */
  readonly golden?:
    | boolean
    | {
        /** Folders of the golden files (default: `$BACKPACK_GOLDEN_DIR`, else `<repo>/../shared/golden` and `golden-modules`). */
        readonly dirs?: string | readonly string[];
        /** Only these cases (file names without `.json`). */
        readonly cases?: readonly string[];
        /** Only these extension groups. */
        readonly groups?: readonly string[];
        /** How each golden pass runs (default: eagerly); e.g. through a compiled step. */
        readonly runPass?: RunPass;
      };
}

/** The default tolerance of each dtype. */
export function defaultTolerance(dtype: FloatDType): number {
  return dtype === 'float64' ? 1e-10 : 1e-4;
}

/**
 * Checks every kernel of the `Backend` contract against backend-cpu in
 * float64 on random and awkward inputs, then runs the golden suite (BackPACK's
 * numbers, where the files are present) end to end through the public API on
 * `backend`. Returns a report; never throws for a failing check (see
 * `assertConformance` / `formatConformanceReport`).
 *
 * Kernels are called directly, with shapes as core passes them; every handle
 * the kit creates is disposed, and a backend with `liveCount()` must end the
 * kernel checks with as many live handles as it started with.
 */
export function runBackendConformance(backend: Backend, options: ConformanceOptions): ConformanceReport {
  const started = performance.now();
  const { dtype } = options;
  const tolerance = options.tolerance ?? defaultTolerance(dtype);
  const checks: ConformanceCheck[] = [];
  const skipped: string[] = [];

  if (!backend.dtypes.includes(dtype)) {
    checks.push({
      part: 'kernels',
      family: 'dtypes',
      name: `backend stores ${dtype}`,
      maxError: Infinity,
      tolerance: 0,
      pass: false,
      message: `backend stores ${dtype}: FAIL (backend.dtypes is [${backend.dtypes.join(', ')}])`,
    });
  } else if (options.kernels !== false) {
    const liveBefore = backend.liveCount?.();
    const missing = new Map<DType, number>();
    for (const kernel of kernelCases(options.seed ?? 0)) {
      if (options.only !== undefined && !options.only.some((part) => kernel.name.includes(part))) continue;
      const absent = dtypesOf(kernel, dtype).filter((d) => !backend.dtypes.includes(d));
      if (absent.length > 0) {
        for (const d of absent) missing.set(d, (missing.get(d) ?? 0) + 1);
        continue;
      }
      checks.push(runKernelCase(backend, kernel, dtype, tolerance));
    }
    for (const [d, count] of missing) skipped.push(`${count} kernel checks that need ${d} (the backend does not store it)`);
    if (liveBefore !== undefined) {
      const liveAfter = backend.liveCount!();
      const pass = liveAfter === liveBefore;
      checks.push({
        part: 'kernels',
        family: 'memory',
        name: 'dispose releases every handle',
        maxError: pass ? 0 : Infinity,
        tolerance: 0,
        pass,
        message: `dispose releases every handle: ${pass ? 'ok' : 'FAIL'} (liveCount ${liveBefore} before the kernel checks, ${liveAfter} after)`,
      });
    }
  }

  if (options.golden !== false && backend.dtypes.includes(dtype)) {
    const golden = typeof options.golden === 'object' ? options.golden : {};
    const result = runGoldenSuite(backend, { dtype, tolerance, ...golden });
    checks.push(...result.checks);
    skipped.push(...result.skipped);
  }

  const failures = checks.filter((check) => !check.pass);
  return {
    backend: backend.name,
    dtype,
    tolerance,
    checks,
    passed: failures.length === 0 && checks.length > 0,
    failures,
    families: summarize(checks),
    skipped,
    durationMs: performance.now() - started,
  };
}
