/**
 * Results of a run: one row per configuration with its outcome and the
 * reference's figures for the same workload, batch size and thread count,
 * and the file bench/results.json.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { arch, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os';
import type { Config, Outcome } from './measure.js';
import { ratiosAgainst, type Ratios, type Reference, type ReferenceEntry, type ReferenceInfo } from './reference.js';
import { REFERENCE_BATCH } from './workloads.js';

export interface ResultRow {
  readonly kind: 'main' | 'scaling';
  readonly config: Config;
  readonly outcome: Outcome;
  /** The reference's entry for the same workload and thread count, when N is the reference's. */
  readonly reference?: ReferenceEntry;
  /** ours / reference (times and peak RSS), when both exist. */
  readonly ratio?: Ratios;
  /** 1-, 5- and 15-minute load averages when the configuration ended. */
  readonly loadavg: readonly number[];
  /** `startedAt` of the run that measured it (see `runs` in the file). */
  readonly run?: string;
}

/** One invocation of the benchmark: when, on which code, under which load. */
export interface RunInfo {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly source?: { readonly commit: string; readonly changedFiles: readonly string[] };
  readonly loadavgAtStart: readonly number[];
  readonly loadavgAtEnd: readonly number[];
  readonly calibration?: { readonly product: string; readonly dtype: string; readonly gflops: number };
  readonly options: Record<string, unknown>;
  readonly backends: ResultsFile['backends'];
  /** What its ratios divide by (absent in files written before it was recorded). */
  readonly reference?: ReferenceInfo;
}

/**
 * Pairs an outcome with the reference (same thread count; only at the
 * reference's batch size); `at` is the load average when the configuration
 * ended (default: now).
 */
export function makeRow(
  kind: ResultRow['kind'],
  config: Config,
  outcome: Outcome,
  reference: Reference | undefined,
  at: readonly number[] = loadavg().map(round2),
): ResultRow {
  const entry =
    config.batchSize === REFERENCE_BATCH[config.workload]
      ? reference?.entry(config.threads, config.workload, config.extension)
      : undefined;
  const ratio = entry !== undefined && outcome.status === 'ok' ? ratiosAgainst(outcome, entry) : undefined;
  return {
    kind,
    config,
    outcome,
    ...(entry === undefined ? {} : { reference: entry }),
    ...(ratio === undefined ? {} : { ratio }),
    loadavg: at,
  };
}

/** The machine the run is on, for results.json. */
export function describeMachine(): Record<string, unknown> {
  const processors = cpus();
  return {
    hostname: hostname(),
    platform: `${platform()} ${release()} ${arch()}`,
    cpu: processors[0]?.model ?? 'unknown',
    cores: processors.length,
    memoryGiB: round2(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** The commit measured and the files changed on top of it (others edit the tree while a run goes on). */
export function describeSource(): { commit: string; changedFiles: string[] } {
  const repository = fileURLToPath(new URL('../../', import.meta.url));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', repository, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  try {
    const changed = git('status', '--porcelain').split('\n').filter((line) => line !== '');
    return { commit: git('rev-parse', 'HEAD'), changedFiles: changed.map((line) => line.slice(3)) };
  } catch {
    return { commit: 'unknown', changedFiles: [] };
  }
}

export interface ResultsFile {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Record<string, unknown>;
  readonly source?: { readonly commit: string; readonly changedFiles: readonly string[] };
  readonly loadavgAtStart: readonly number[];
  readonly loadavgAtEnd: readonly number[];
  readonly options: Record<string, unknown>;
  /** Pure TypeScript GEMM throughput at the start of the run. */
  readonly calibration?: { readonly product: string; readonly dtype: string; readonly gflops: number };
  /** The latest run's reference. */
  readonly reference?: ReferenceInfo;
  readonly backends: readonly { readonly name: string; readonly threads: number; readonly loaded: boolean; readonly note?: string; readonly reason?: string }[];
  /** Every run whose rows are in `results` (the fields above are the latest run's). */
  readonly runs?: readonly RunInfo[];
  readonly results: readonly ResultRow[];
}

export function writeResults(path: string, results: ResultsFile): void {
  writeFileSync(path, JSON.stringify(results, (_key, value: unknown) => (typeof value === 'number' ? round3(value) : value), 2) + '\n');
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function round3(value: number): number {
  return Number.isInteger(value) || !Number.isFinite(value) ? value : Math.round(value * 1000) / 1000;
}
