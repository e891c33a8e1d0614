/**
 * The import's memory limit: every allocation whose size comes from the model
 * (the file, initializers, constants folded at import, the trace's tensors)
 * is estimated from the shapes and reserved here before it is made, so a
 * small file cannot make the import allocate gigabytes.
 */
import { OnnxMemoryLimitError, UserError } from '../errors.js';
import { nodeBuiltin } from './node-builtins.js';

/** The default limit where the memory of the machine is unknown (no Node `os`, e.g. a browser bundle): 2 GiB. */
const FALLBACK_LIMIT_BYTES = 2 * 1024 ** 3;

/** The share of the process's memory that {@link defaultMemoryLimitBytes} allows; see there why half. */
const DEFAULT_MEMORY_FRACTION = 0.5;

/**
 * Bytes of memory this process may use: the machine's (`os.totalmem()`), or
 * the process's own limit where that is lower (`process.constrainedMemory()`,
 * e.g. a container's cgroup limit, where Node has it). Undefined where Node's
 * `os` is not available.
 */
function processMemoryBytes(): number | undefined {
  const os = nodeBuiltin('node:os');
  if (os === undefined) return undefined;
  const total = os.totalmem();
  const process = (globalThis as { process?: { constrainedMemory?: () => number | undefined } }).process;
  // Without a limit Node returns 0 or undefined, or on some cgroup setups a huge number: min() keeps totalmem then.
  const constrained = process?.constrainedMemory?.();
  return constrained !== undefined && constrained > 0 ? Math.min(total, constrained) : total;
}

/**
 * The memory limit when none is given, for the import
 * (`ImportOptions.memoryLimitBytes`) and the CLI (`--memory-limit`, which
 * checks the import and then the requested quantities against it): half of
 * the memory this process may use, that is half of `os.totalmem()`, or of
 * `process.constrainedMemory()` (a container's limit) where that is lower;
 * 2 GiB where Node's `os` is not available (a browser bundle).
 *
 * Half, because both estimates checked against the limit are lower bounds of
 * the real peak: the import's counts the tensors the shapes imply (file,
 * initializers, folded constants, parameters, the trace) and the CLI's
 * `estimateQuantitiesMemory` the large arrays of the extensions. Neither
 * counts the JavaScript heap, a kernel's temporaries, buffers the garbage
 * collector has not freed yet, ONNX Runtime's own memory in the forward
 * check, or the other processes on the machine. An estimate just under a
 * limit of 80% could take the process past the machine's memory (swapping,
 * or killed without a message) instead of stopping it with one; half leaves
 * as much again for what the estimates do not see, while still admitting
 * models that a quarter refused though they fit.
 */
export function defaultMemoryLimitBytes(): number {
  const memory = processMemoryBytes();
  return memory === undefined ? FALLBACK_LIMIT_BYTES : Math.floor(memory * DEFAULT_MEMORY_FRACTION);
}

/**
 * `bytes` for people, in binary units (1 KiB = 1024 bytes) with three
 * significant digits: `512` -> `"512 bytes"`, `1536` -> `"1.5 KiB"`,
 * `8e9` -> `"7.45 GiB"`. Every message about memory uses it: the import's
 * limit, the CLI's `--memory-limit` (which also takes decimal KB, MB, GB)
 * and its `--help`.
 */
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
