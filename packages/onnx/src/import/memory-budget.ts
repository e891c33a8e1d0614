/**
 * The import's memory limit: every allocation whose size comes from the model
 * (the file, initializers, constants folded at import, the trace's tensors)
 * is estimated from the shapes and reserved here before it is made, so a
 * small file cannot make the import allocate gigabytes.
 */
import { OnnxMemoryLimitError, UserError } from '../errors.js';
import { nodeBuiltin } from './node-builtins.js';

/** The default limit where the machine's memory is unknown (a browser): 2 GiB. */
const FALLBACK_LIMIT_BYTES = 2 * 1024 ** 3;

/**
 * The memory limit of an import when `ImportOptions.memoryLimitBytes` is not
 * given: a quarter of the machine's memory (`os.totalmem() / 4`), or 2 GiB
 * where Node's `os` is not available. A quarter, because the import only
 * prepares the model: the quantities computed afterwards need the rest.
 */
export function defaultMemoryLimitBytes(): number {
  const os = nodeBuiltin('node:os');
  return os === undefined ? FALLBACK_LIMIT_BYTES : Math.floor(os.totalmem() / 4);
}

/** `1536` -> `"1.5 KiB"`, `8e9` -> `"7.5 GiB"`: binary units, three significant digits. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${Number(value.toPrecision(3))} ${units[unit]}`;
}

/** Bytes the import holds, checked against its limit before each allocation. */
export class MemoryBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  /** Bytes reserved so far. */
  get usedBytes(): number {
    return this.used;
  }

  /**
   * Reserves `bytes` for `what` (e.g. `"ONNX node 'c' (op Conv) as Conv2d"`),
   * or throws an {@link OnnxMemoryLimitError} naming it, the estimate and the
   * limit; `advice` says what in the model to change (the limit can always
   * be raised).
   */
  reserve(bytes: number, what: string, advice?: string): void {
    const total = this.used + bytes;
    if (total <= this.limitBytes) {
      this.used = total;
      return;
    }
    const before = this.used > 0 ? ` (on top of the ${formatBytes(this.used)} the import already holds)` : '';
    throw new OnnxMemoryLimitError(
      `${what} needs about ${formatBytes(bytes)}${before}, more than the import's memory limit of ${formatBytes(this.limitBytes)} (${this.limitBytes} bytes). ` +
        `${advice === undefined ? 'Raise' : `${advice[0]!.toUpperCase()}${advice.slice(1)}; or raise`} the limit (memoryLimitBytes, the CLI's --memory-limit) if the machine has the memory`,
      total,
      this.limitBytes,
    );
  }
}

/** Checks `ImportOptions.memoryLimitBytes` and returns the limit in force. */
export function memoryLimit(option: number | undefined): number {
  if (option === undefined) return defaultMemoryLimitBytes();
  if (!(typeof option === 'number' && option > 0 && Number.isFinite(option))) {
    throw new UserError(`memoryLimitBytes must be a positive number of bytes, got ${String(option)}`);
  }
  return option;
}
