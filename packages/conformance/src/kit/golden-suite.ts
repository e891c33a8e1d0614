/**
 * The golden part of the conformance kit: every golden case whose layers core
 * implements, end to end through the public API on the backend under test
 * (build, forward, `backpack(extensions, () => loss.backward())`), compared
 * with BackPACK's numbers.
 */
import { UnsupportedModuleError, type Backend, type Extension, type FloatDType } from '@backpack-ts/core';
import { BatchDiagGGNExact, BatchDiagGGNMC, DiagGGNExact, DiagGGNMC, SqrtGGNExact, SqrtGGNMC } from '@backpack-ts/diag-ggn';
import { BatchDiagHessian, DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad, SumGradSquared, Variance } from '@backpack-ts/first-order';
import { KFAC, KFLR, KFRA } from '@backpack-ts/kronecker';
import type { CompareReport } from '../compare.js';
import { listGoldenCases, loadGoldenCase, goldenDirs, type GoldenCase } from '../golden/load.js';
import { checkGoldenExtensions, checkGoldenForward, type GoldenCheck, type RunPass } from '../golden/run.js';
import type { ConformanceCheck } from './report.js';

/** The extension groups run on every golden case, one backward pass each. */
export const GOLDEN_EXTENSION_GROUPS: Readonly<Record<string, () => Extension[]>> = {
  'first-order': () => [new BatchGrad(), new Variance(), new SumGradSquared(), new BatchL2Grad()],
  ggn: () => [
    new DiagGGNExact(),
    new BatchDiagGGNExact(),
    new SqrtGGNExact(),
    new DiagGGNMC({ seed: 0 }),
    new BatchDiagGGNMC({ seed: 1 }),
    new SqrtGGNMC({ seed: 2 }),
  ],
  hessian: () => [new DiagHessian(), new BatchDiagHessian()],
  kronecker: () => [new KFLR(), new KFRA(), new KFAC({ seed: 0 })],
};

/** Options of {@link runGoldenSuite}. */
export interface GoldenSuiteOptions {
  /** Float dtype of the parameters and data. */
  readonly dtype: FloatDType;
  /** Largest accepted relative error of each quantity. */
  readonly tolerance: number;
  /** Folders of the golden files (default: `$BACKPACK_GOLDEN_DIR`, else `<repo>/../shared/golden` and `golden-modules`). */
  readonly dirs?: string | readonly string[];
  /** Only these cases (file names without `.json`). */
  readonly cases?: readonly string[];
  /** Only these extension groups (keys of {@link GOLDEN_EXTENSION_GROUPS}). */
  readonly groups?: readonly string[];
  /** How each backward pass runs (default: once, as it is), e.g. through a backend's compiled step. */
  readonly runPass?: RunPass;
}

function toCheck(family: string, report: CompareReport): ConformanceCheck {
  return {
    part: 'golden',
    family,
    name: report.label,
    maxError: Number.isNaN(report.relError) ? Infinity : report.relError,
    tolerance: report.tolerance,
    pass: report.ok,
    message: report.message,
  };
}

function failure(family: string, name: string, tolerance: number, problem: string): ConformanceCheck {
  return { part: 'golden', family, name, maxError: Infinity, tolerance, pass: false, message: `${name}: FAIL (${problem})` };
}

/**
 * Runs the golden suite; returns its checks and what was skipped. A case
 * with a layer type core lacks is a failed check ("unknown layer type ..."),
 * not a skip. Never throws.
 */
export function runGoldenSuite(
  backend: Backend,
  options: GoldenSuiteOptions,
): {
  /** One check per forward pass and per quantity compared. */
  checks: ConformanceCheck[];
  /** What was not run, and why. */
  skipped: string[];
} {
  const checks: ConformanceCheck[] = [];
  const skipped: string[] = [];
  const dirs = options.dirs ?? goldenDirs();
  let files = listGoldenCases(dirs);
  if (files.length === 0) {
    skipped.push(`golden suite: no golden files at ${typeof dirs === 'string' ? dirs : dirs.join(' and ') || '(no repository root found)'}`);
    return { checks, skipped };
  }
  if (options.cases !== undefined) files = files.filter((f) => options.cases!.includes(f.name));
  const groups = Object.entries(GOLDEN_EXTENSION_GROUPS).filter(([name]) => options.groups === undefined || options.groups.includes(name));
  const build = { backend, dtype: options.dtype, tolerance: options.tolerance, ...(options.runPass && { runPass: options.runPass }) };

  for (const file of files) {
    let golden: GoldenCase;
    try {
      golden = loadGoldenCase(file);
    } catch (error) {
      checks.push(failure('forward', `${file.name} load`, options.tolerance, error instanceof Error ? error.message : String(error)));
      continue;
    }
    const collect = (family: string, what: string, run: () => GoldenCheck): boolean => {
      let result: GoldenCheck;
      try {
        result = run();
      } catch (error) {
        if (error instanceof UnsupportedModuleError || (error instanceof Error && error.name === 'UnsupportedModuleError')) {
          skipped.push(`golden ${golden.name} ${what}: ${error.message}`);
        } else {
          const message = error instanceof Error ? error.message : String(error);
          checks.push(failure(family, `${golden.name} [${backend.name} ${options.dtype}] ${what}`, options.tolerance, `threw: ${message}`));
        }
        return true;
      }
      if (result.unsupported !== undefined) {
        checks.push(failure(family, `${golden.name} [${backend.name} ${options.dtype}] ${what}`, options.tolerance, `unknown layer type ${result.unsupported}`));
        return false;
      }
      checks.push(...result.reports.map((report) => toCheck(family, report)));
      return true;
    };
    if (!collect('forward', 'forward', () => checkGoldenForward(golden, build))) continue;
    for (const [group, make] of groups) {
      collect(group, group, () => checkGoldenExtensions(golden, make(), build));
    }
  }
  return { checks, skipped };
}
