/** Buffers above this many elements are handed out but not kept, so one huge call cannot pin memory. */
const MAX_RETAINED_ELEMENTS = 1 << 20;

/**
 * A reusable Float64Array that grows on demand, so hot kernels do not pay for
 * allocating (and first-touching) a fresh buffer on every call.
 */
export class Float64Scratch {
  private buffer = new Float64Array(0);

  /** A buffer of at least `size` elements. Its contents are unspecified. */
  get(size: number): Float64Array {
    if (size <= this.buffer.length) return this.buffer;
    const fresh = new Float64Array(size);
    if (size <= MAX_RETAINED_ELEMENTS) this.buffer = fresh;
    return fresh;
  }
}
