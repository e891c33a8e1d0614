/**
 * The CLI's memory limit: `--memory-limit`, and the refusal, before anything
 * is computed, of a request whose estimated memory (see
 * `estimateQuantitiesMemory`) is beyond it. Its default,
 * `defaultMemoryLimitBytes()`, and `formatBytes` are the import's: the CLI
 * passes the same limit to `importOnnx`.
 */
import { UserError } from '../errors.js';
import { formatBytes } from '../import/memory-budget.js';
import type { MemoryEstimate } from '../quantities.js';

/** Powers of the units of {@link parseByteSize}: binary (KiB = 1024), as messages print sizes, and decimal (KB = 1000). */
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
 * binary (`KiB`, `MiB`, `GiB`, `TiB`: powers of 1024, the units messages
 * print) or decimal (`KB`, `MB`, `GB`, `TB`: powers of 1000),
 * case-insensitive, e.g. `4GiB`, `512MiB`, `1.5 TB`. A UserError names
 * `option` otherwise.
 */
export function parseByteSize(text: string, option = '--memory-limit'): number {
  const match = /^\s*(\d+(?:\.\d*)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const scale = match === null ? undefined : UNITS.get(match[2]!.toLowerCase());
  const bytes = scale === undefined ? NaN : Math.floor(Number(match![1]) * scale);
  if (!(bytes >= 1) || !Number.isFinite(bytes)) {
    throw new UserError(`${option} must be a positive size in bytes, e.g. 4GiB, 512MiB, 4GB or 4000000000, got '${text}'`);
  }
  return bytes;
}

/** What the refusal message quotes from the request. */
export interface MemoryRequest {
  /** The batch size. */
  readonly batch: number;
  /** Monte-Carlo samples (`--mc-samples`). */
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
      `more than the limit of ${formatBytes(limit)} (${limit} bytes, --memory-limit); ` +
      `use a smaller batch (now ${request.batch} samples), fewer Monte-Carlo samples (--mc-samples, now ${request.mcSamples}) or fewer extensions, ` +
      'or consume per-sample quantities as they are computed in an extension hook (backpack(extensions, fn, { extensionHook }) in TypeScript) instead of storing them; ' +
      'or raise --memory-limit if the machine has the memory',
  );
}
