/**
 * The reference figures: BackPACK 1.6.0 + PyTorch, per thread count,
 * workload and configuration, either measured live in the same run as ours
 * (`live-reference.ts`: once before and once after our measurements) or read
 * from the static file (`backpack-pytorch-reference.json` in the shared
 * folder next to the repository, or the file in `BACKPACK_BENCH_REFERENCE`),
 * the fallback.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConfigurationName } from './configurations.js';
import type { WorkloadName } from './workloads.js';

/** One run of the reference on one configuration: its figures, or why it has none. */
export type ReferenceRun =
  | { readonly status: 'ok'; readonly medianMs: number; readonly minMs: number; readonly peakRssMiB: number }
  | { readonly status: 'error'; readonly message: string };

export interface ReferenceEntry {
  readonly medianMs?: number;
  readonly minMs?: number;
  /** Peak RSS of the reference's process that ran only this configuration (Python, torch and all), MiB. */
  readonly peakRssMiB?: number;
  /** Why the reference has no time (e.g. "too slow in BackPACK: > 10 minutes per step"). */
  readonly skipped?: string;
  /** Live: every run of the reference failed on this configuration. */
  readonly error?: string;
  /** Live: slowest / fastest median of the runs that gave one (when at least two did). */
  readonly drift?: number;
  /** Live: every run, in order (before ours, after ours). */
  readonly runs?: readonly ReferenceRun[];
}

/** ours / reference, for each figure both sides have. */
export interface Ratios {
  readonly median?: number;
  readonly min?: number;
  readonly peakRss?: number;
}

/** Where a run's reference figures come from: recorded in results.json and named above every table. */
export type ReferenceInfo =
  | { readonly kind: 'file'; readonly path: string; readonly date?: string }
  | { readonly kind: 'live'; readonly system: string; readonly passes: readonly ReferencePassTime[] }
  | { readonly kind: 'none'; readonly problem: string };

/** When one live pass over the configurations started and ended (ISO times). */
export interface ReferencePassTime {
  readonly startedAt: string;
  readonly finishedAt: string;
}

export interface Reference {
  readonly info: ReferenceInfo;
  /** Its entry for a configuration, or undefined when it has none (e.g. all first-order at once). */
  entry(threads: number, workload: WorkloadName, configuration: ConfigurationName): ReferenceEntry | undefined;
}

/**
 * Live runs whose medians differ by more than this factor are flagged as drift: the
 * machine changed under the run, and ratios against either run are doubtful.
 */
export const DRIFT_LIMIT = 1.5;

const FILE_NAME = 'backpack-pytorch-reference.json';

/** Where the static reference file is looked for. */
export function referencePath(): string {
  return (
    process.env['BACKPACK_BENCH_REFERENCE'] ??
    fileURLToPath(new URL(`../../../shared/bench/${FILE_NAME}`, import.meta.url))
  );
}

/** Loads the static reference file, or returns undefined (the table then has no ratios) with the reason. */
export function loadReference(path = referencePath()): { reference?: Reference; problem?: string } {
  if (!existsSync(path)) return { problem: `no reference timings at ${path} (set BACKPACK_BENCH_REFERENCE)` };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    return { problem: `${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
  const byThreads = new Map<number, Record<string, Record<string, Record<string, unknown>>>>();
  for (const [key, value] of Object.entries(json)) {
    const match = /^threads_(\d+)$/.exec(key);
    if (match !== null && typeof value === 'object' && value !== null) {
      byThreads.set(Number(match[1]), value as Record<string, Record<string, Record<string, unknown>>>);
    }
  }
  const date = referenceFileDate(json);
  const reference: Reference = {
    info: { kind: 'file', path, ...(date === undefined ? {} : { date }) },
    entry(threads, workload, configuration) {
      const raw = byThreads.get(threads)?.[workload]?.[configuration];
      return raw === undefined ? undefined : entryFromJson(raw);
    },
  };
  return { reference };
}

/**
 * The day the static file was measured: its `date` field, else the
 * "measured YYYY-MM-DD" of its description (`what`).
 */
export function referenceFileDate(json: Readonly<Record<string, unknown>>): string | undefined {
  if (typeof json['date'] === 'string') return json['date'];
  const what = json['what'];
  return typeof what === 'string' ? /\bmeasured (\d{4}-\d{2}-\d{2})\b/.exec(what)?.[1] : undefined;
}

/**
 * One configuration of the reference's JSON (`median_ms`, `min_ms`,
 * `peak_rss_mib`, `skipped`) as an entry; fields that are missing or not of
 * the right type are left out.
 */
export function entryFromJson(raw: Readonly<Record<string, unknown>>): ReferenceEntry {
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  const medianMs = number(raw['median_ms']);
  const minMs = number(raw['min_ms']);
  const peakRssMiB = number(raw['peak_rss_mib']);
  const skipped = raw['skipped'];
  return {
    ...(medianMs === undefined ? {} : { medianMs }),
    ...(minMs === undefined ? {} : { minMs }),
    ...(peakRssMiB === undefined ? {} : { peakRssMiB }),
    ...(typeof skipped === 'string' ? { skipped } : {}),
  };
}

/**
 * The run that `bench_ref.py --one` printed: its last non-empty stdout line
 * is a JSON object with `median_ms`, `min_ms` and `peak_rss_mib`.
 */
export function parseReferenceRun(stdout: string): ReferenceRun {
  const line = stdout.trim().split('\n').at(-1)?.trim() ?? '';
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { status: 'error', message: `not JSON: '${line.slice(0, 120)}'` };
  }
  const entry = typeof raw === 'object' && raw !== null ? entryFromJson(raw as Record<string, unknown>) : {};
  if (entry.medianMs === undefined || entry.minMs === undefined || entry.peakRssMiB === undefined) {
    return { status: 'error', message: `no median_ms, min_ms and peak_rss_mib in '${line.slice(0, 120)}'` };
  }
  return { status: 'ok', medianMs: entry.medianMs, minMs: entry.minMs, peakRssMiB: entry.peakRssMiB };
}

/**
 * The entry of a configuration the reference ran several times: each figure
 * is the smallest over the runs that gave one (noise on a shared machine only
 * ever adds time, so the fastest run is the closest to the reference's own
 * cost; the smallest peak RSS keeps the memory ratio from flattering us),
 * and `drift` is the slowest median over the fastest.
 */
export function combineRuns(runs: readonly ReferenceRun[]): ReferenceEntry {
  const ok = runs.flatMap((run) => (run.status === 'ok' ? [run] : []));
  if (ok.length === 0) {
    const messages = runs.flatMap((run) => (run.status === 'error' ? [run.message] : []));
    return { error: [...new Set(messages)].join('; ') || 'not run', runs };
  }
  const medians = ok.map((run) => run.medianMs);
  const fastest = Math.min(...medians);
  return {
    medianMs: fastest,
    minMs: Math.min(...ok.map((run) => run.minMs)),
    peakRssMiB: Math.min(...ok.map((run) => run.peakRssMiB)),
    ...(ok.length >= 2 && fastest > 0 ? { drift: Math.max(...medians) / fastest } : {}),
    runs,
  };
}

/** The key of a configuration in a live reference's maps. */
export function referenceKey(threads: number, workload: WorkloadName, configuration: ConfigurationName): string {
  return `${threads}/${workload}/${configuration}`;
}

/**
 * The live reference of a run: each configuration's runs over the passes
 * combined (`combineRuns`), and the configurations that were not run with why.
 */
export function liveReference(
  system: string,
  passes: readonly (ReferencePassTime & { readonly runs: ReadonlyMap<string, ReferenceRun> })[],
  skipped: ReadonlyMap<string, string>,
): Reference {
  const entries = new Map<string, ReferenceEntry>();
  for (const key of new Set(passes.flatMap((pass) => [...pass.runs.keys()]))) {
    entries.set(key, combineRuns(passes.flatMap((pass) => pass.runs.get(key) ?? [])));
  }
  for (const [key, reason] of skipped) entries.set(key, { skipped: reason });
  return {
    info: { kind: 'live', system, passes: passes.map(({ startedAt, finishedAt }) => ({ startedAt, finishedAt })) },
    entry: (threads, workload, configuration) => entries.get(referenceKey(threads, workload, configuration)),
  };
}

/** ours / reference for the median and minimum time and the peak RSS, where the reference has the figure. */
export function ratiosAgainst(ours: { readonly medianMs: number; readonly minMs: number; readonly peakRssMiB: number }, entry: ReferenceEntry): Ratios {
  const ratio = (mine: number, theirs: number | undefined) => (theirs === undefined || theirs <= 0 ? undefined : mine / theirs);
  const median = ratio(ours.medianMs, entry.medianMs);
  const min = ratio(ours.minMs, entry.minMs);
  const peakRss = ratio(ours.peakRssMiB, entry.peakRssMiB);
  return {
    ...(median === undefined ? {} : { median }),
    ...(min === undefined ? {} : { min }),
    ...(peakRss === undefined ? {} : { peakRss }),
  };
}

/** One line naming a reference, for the title of a table and the start of a run. */
export function describeReference(info: ReferenceInfo): string {
  switch (info.kind) {
    case 'file':
      return `static file ${info.path} (measured ${info.date ?? 'on a date it does not give'})`;
    case 'live': {
      const [before, after] = info.passes;
      const when = [before && `before ours ${formatSpan(before)}`, after && `after ours ${formatSpan(after)}`].filter(Boolean).join(', ');
      return `live, ${info.system}, measured in the same run as ours: ${when}; each figure the smallest over the passes, drift flagged above ${DRIFT_LIMIT}x`;
    }
    case 'none':
      return `none (${info.problem}); no ratios`;
  }
}

/** `2026-12-07 20:31:05-20:33:40 UTC` from two ISO times. */
export function formatSpan({ startedAt, finishedAt }: ReferencePassTime): string {
  const [startDay, startTime] = [startedAt.slice(0, 10), startedAt.slice(11, 19)];
  const [endDay, endTime] = [finishedAt.slice(0, 10), finishedAt.slice(11, 19)];
  return startDay === endDay ? `${startDay} ${startTime}-${endTime} UTC` : `${startDay} ${startTime} - ${endDay} ${endTime} UTC`;
}
