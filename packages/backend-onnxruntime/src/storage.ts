/**
 * Handles, their shared storage, and the pool that recycles disposed buffers.
 *
 * Data lives in JavaScript typed arrays. ONNX Runtime reads inputs from them
 * in place and returns each output as a typed array of its own, which the
 * garbage collector frees (a preallocated output would not save that:
 * onnxruntime-node 1.30 returns a copy of it, so it is written twice).
 * `reshape` (and a cast to the same dtype) shares storage; storage is
 * reference counted. `fromData` and `full` take their buffer from a
 * {@link BufferPool}, and when the last handle on such a buffer is disposed
 * it goes back there for the next one of that dtype and length: warm memory,
 * where a fresh allocation would first-touch every page.
 */
import type { DataArray, DType } from '@backpack-ts/core';

/** Storage shared by the handles that view it. */
interface Storage {
  /** The elements; empty while `pending`. */
  data: DataArray;
  refs: number;
  /** Taken from the pool: goes back to it when released (other buffers are left to the garbage collector). */
  readonly pooled: boolean;
  /** A value a compiled step has not computed yet (see `compiled/`): `data` is filled when the step's graph has run. */
  pending: boolean;
}

const NOTHING = new Float32Array(0);

/**
 * The backend's handle: a dense row-major typed array (`Float32Array`,
 * `Float64Array` or `Int32Array`, exactly as long as the tensor) plus its
 * reference-counted storage. Treat `data` as read-only.
 */
export class OrtHandle {
  /** @internal */
  storage: Storage | undefined;

  /** @internal use {@link HandleRegistry.create} or {@link HandleRegistry.share}. */
  constructor(storage: Storage) {
    this.storage = storage;
  }

  /** The elements; throws once the handle is disposed, and while a compiled step has not computed them yet. */
  get data(): DataArray {
    if (this.storage === undefined) throw new Error('onnxruntime backend: the handle was disposed');
    if (this.storage.pending) throw new Error('onnxruntime backend: the value is computed when the compiled step ends; read it after step.run()');
    return this.storage.data;
  }

  /** Whether the handle was disposed (its data is gone). */
  get disposed(): boolean {
    return this.storage === undefined;
  }
}

function dtypeOf(data: DataArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

/** Allocates a zero-filled typed array of `dtype`. */
export function allocate(dtype: DType, length: number): DataArray {
  if (dtype === 'float32') return new Float32Array(length);
  if (dtype === 'float64') return new Float64Array(length);
  return new Int32Array(length);
}

/**
 * Disposed buffers by dtype and length, up to `maxBytes` in all. Buffers come
 * back with unspecified contents.
 */
export class BufferPool {
  private readonly free = new Map<string, DataArray[]>();
  private bytes = 0;
  private count = 0;

  constructor(private readonly maxBytes: number) {}

  /** A buffer of `dtype` and `length` (recycled if one is free, else new and zeroed). */
  take(dtype: DType, length: number): DataArray {
    const list = this.free.get(`${dtype}:${length}`);
    const recycled = list?.pop();
    if (recycled !== undefined) {
      this.bytes -= recycled.byteLength;
      this.count -= 1;
      return recycled;
    }
    return allocate(dtype, length);
  }

  /** Returns a buffer nobody references any more; dropped when the pool is full. */
  give(data: DataArray): void {
    if (data.length === 0 || this.bytes + data.byteLength > this.maxBytes) return;
    // Only whole buffers are pooled: a view into a larger buffer would pin it.
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) return;
    const key = `${dtypeOf(data)}:${data.length}`;
    let list = this.free.get(key);
    if (list === undefined) {
      list = [];
      this.free.set(key, list);
    }
    list.push(data);
    this.bytes += data.byteLength;
    this.count += 1;
  }

  /** Frees every pooled buffer (the garbage collector reclaims them). */
  clear(): void {
    this.free.clear();
    this.bytes = 0;
    this.count = 0;
  }

  get pooledBytes(): number {
    return this.bytes;
  }

  get pooledBuffers(): number {
    return this.count;
  }
}

/** Creates, shares and disposes handles, and counts the live ones. */
export class HandleRegistry {
  private liveHandles = 0;
  private liveStorages = 0;
  private liveBytes = 0;

  constructor(readonly pool: BufferPool) {}

  /**
   * A handle owning `data` (which nobody else references). `pooled` buffers
   * (taken from the pool) return to it on release; others, such as the fresh
   * results of TypeScript kernels, are left to the garbage collector, so the
   * pool only ever holds what outputs take back out of it.
   */
  create(data: DataArray, pooled = false): OrtHandle {
    this.liveHandles += 1;
    this.liveStorages += 1;
    this.liveBytes += data.byteLength;
    return new OrtHandle({ data, refs: 1, pooled, pending: false });
  }

  /** A handle whose value a compiled step computes later ({@link fill}). */
  placeholder(): OrtHandle {
    this.liveHandles += 1;
    this.liveStorages += 1;
    return new OrtHandle({ data: NOTHING, refs: 1, pooled: false, pending: true });
  }

  /** Gives a live placeholder its value: `data`, which nobody else references. */
  fill(placeholder: OrtHandle, data: DataArray): void {
    const storage = placeholder.storage!;
    storage.data = data;
    storage.pending = false;
    this.liveBytes += data.byteLength;
  }

  /** Gives a live placeholder the storage of `source` (which it views, as `share` does); the placeholder's empty storage is dropped. */
  shareInto(source: OrtHandle, placeholder: OrtHandle): void {
    const storage = source.storage!;
    storage.refs += 1;
    placeholder.storage = storage;
    this.liveStorages -= 1;
  }

  /**
   * Gives a live placeholder the storage of `from` (a handle computed for
   * it): `from`'s reference moves to the placeholder, `from` is released and
   * the placeholder's empty storage dropped.
   */
  transplant(from: OrtHandle, placeholder: OrtHandle): void {
    placeholder.storage = from.storage!;
    from.storage = undefined;
    this.liveHandles -= 1;
    this.liveStorages -= 1;
  }

  /** Another handle on the storage of `x` (reshape, identity cast). */
  share(x: OrtHandle): OrtHandle {
    const storage = x.storage;
    if (storage === undefined) throw new Error('onnxruntime backend: the handle was disposed');
    storage.refs += 1;
    this.liveHandles += 1;
    return new OrtHandle(storage);
  }

  /** Releases `x`; the buffer goes back to the pool when no handle views it. Idempotent. */
  dispose(x: OrtHandle): void {
    const storage = x.storage;
    if (storage === undefined) return;
    x.storage = undefined;
    this.liveHandles -= 1;
    storage.refs -= 1;
    if (storage.refs === 0) {
      this.liveStorages -= 1;
      this.liveBytes -= storage.data.byteLength;
      if (storage.pooled) this.pool.give(storage.data);
    }
  }

  /** Handles not disposed yet. */
  get handles(): number {
    return this.liveHandles;
  }

  /** Distinct buffers held by live handles, and their bytes. */
  get buffers(): number {
    return this.liveStorages;
  }

  get bytes(): number {
    return this.liveBytes;
  }
}
