/**
 * The CLI's memory limit: `--memory-limit`, its default from the machine's
 * memory, and the refusal, before anything is computed, of a request whose
 * estimated memory (see `estimateQuantitiesMemory`) is beyond it.
 */
import { totalmem } from 'node:os';
import { UserError } from '../errors.js';
import type { ImportOptions } from '../import/importer.js';
import type { MemoryEstimate } from '../quantities.js';

/** Powers of the units of {@link parseByteSize}: decimal (KB = 1000) and binary (KiB = 1024). */
const UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['b', 1],
  ['kb', 1e3],
  ['mb', 1e6],
  ['gb', 1e9],
  ['tb', 1e12],
  ['kib', 2 ** 10],
  ['mib', 2 ** 20],
  ['gib', 2 ** 30],
  ['tib', 2 ** 40],
]);

/**
 * Bytes in `text`: a number (`4000000000`, `4e9`) or a number with a unit,
 * decimal (`KB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`),
 * case-insensitive, e.g. `4GB`, `512MiB`, `1.5 TB`. A UserError names
 * `option` otherwise.
 */
export function parseByteSize(text: string, option = '--memory-limit'): number {
  const match = /^\s*(\d+(?:\.\d*)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const scale = match === null ? undefined : UNITS.get(match[2]!.toLowerCase());
  const bytes = scale === undefined ? NaN : Math.floor(Number(match![1]) * scale);
  if (!(bytes >= 1) || !Number.isFinite(bytes)) {
    throw new UserError(`${option} must be a positive size in bytes, e.g. 4GB, 512MiB or 4000000000, got '${text}'`);
  }
  return bytes;
}

/**
 * The default memory limit: 80% of this machine's memory, or of the
 * process's memory limit (a container's cgroup) where that is lower.
 */
export function defaultMemoryLimitBytes(): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  const memory = constrained !== undefined && constrained > 0 ? Math.min(totalmem(), constrained) : totalmem();
  return Math.floor(memory * 0.8);
}

/** `bytes` for people: `7.50 GB`, `512 MB` (decimal units, as `--memory-limit` takes them). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toPrecision(3)} ${units[unit]}`;
}

/**
 * The import options that carry the memory limit to `importOnnx`. The
 * importer on this branch takes none, so there are none to pass; this is
 * the one place where a `memoryLimitBytes` import option goes.
 */
export function importLimits(_limit: number): Partial<ImportOptions> {
  return {};
}

/** What the refusal message quotes from the request. */
export interface MemoryRequest {
  readonly batch: number;
  readonly mcSamples: number;
}

/**
 * Throws a UserError when `estimate` is beyond `limit`: one line with the
 * estimate, the extensions that need the most, the limit, and what to
 * change. Nothing has been computed or written when it throws.
 */
export function checkMemory(estimate: MemoryEstimate, limit: number, request: MemoryRequest): void {
  if (estimate.bytes <= limit) return;
  const largest = [...estimate.extensions]
    .sort((a, b) => b.stored + b.backpropagated - (a.stored + a.backpropagated))
    .slice(0, 3)
    .map((e) => `${e.extension} stores ${formatBytes(e.stored)} and passes ${formatBytes(e.backpropagated)} backward`);
  throw new UserError(
    `the requested quantities need about ${formatBytes(estimate.bytes)} of memory (${largest.join('; ')}), ` +
      `more than the limit of ${formatBytes(limit)} (--memory-limit); ` +
      `use a smaller batch (now ${request.batch} samples), fewer Monte-Carlo samples (--mc-samples, now ${request.mcSamples}) or fewer extensions, ` +
      'or consume per-sample quantities as they are computed in an extension hook (backpack(extensions, fn, { extensionHook }) in TypeScript) instead of storing them; ' +
      'or raise --memory-limit if the machine has the memory',
  );
}
