/**
 * The reference timings: BackPACK 1.6.0 + PyTorch 1.13.1 on this machine
 * class (`backpack-pytorch-reference.json` in the shared folder next to the
 * repository, or the file in `BACKPACK_BENCH_REFERENCE`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConfigurationName } from './configurations.js';
import type { WorkloadName } from './workloads.js';

export interface ReferenceEntry {
  readonly medianMs?: number;
  readonly minMs?: number;
  /** Peak RSS of the reference's process that ran only this configuration (Python, torch and all), MiB. */
  readonly peakRssMiB?: number;
  /** Why the reference has no time (e.g. "too slow in BackPACK: > 10 minutes per step"). */
  readonly skipped?: string;
}

/** ours / reference, for each figure both sides have. */
export interface Ratios {
  readonly median?: number;
  readonly min?: number;
  readonly peakRss?: number;
}

export interface Reference {
  readonly path: string;
  /** The reference's own description of its workloads and machine. */
  readonly what: string;
  /** Thread counts it was measured at. */
  readonly threads: readonly number[];
  /** Its entry for a configuration, or undefined when it has none (e.g. all first-order at once). */
  entry(threads: number, workload: WorkloadName, extension: ConfigurationName): ReferenceEntry | undefined;
}

const FILE_NAME = 'backpack-pytorch-reference.json';

/** Where the reference is looked for. */
export function referencePath(): string {
  return (
    process.env['BACKPACK_BENCH_REFERENCE'] ??
    fileURLToPath(new URL(`../../../shared/bench/${FILE_NAME}`, import.meta.url))
  );
}

/** Loads the reference, or returns undefined (the table then has no ratios) with the reason. */
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
  const reference: Reference = {
    path,
    what: typeof json['what'] === 'string' ? json['what'] : '',
    threads: [...byThreads.keys()].sort((a, b) => a - b),
    entry(threads, workload, extension) {
      const raw = byThreads.get(threads)?.[workload]?.[extension];
      return raw === undefined ? undefined : entryFromJson(raw);
    },
  };
  return { reference };
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
