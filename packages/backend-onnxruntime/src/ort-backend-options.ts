/**
 * What an {@link OrtBackend} is configured with and reports: its options, the
 * counts of where kernels ran, and its memory and session statistics.
 */
import type { OrtBackend } from './ort-backend.js';
import type { SessionCacheStats } from './sessions.js';

/** Options of {@link OrtBackend}: threads, where small kernels run, and the caches. */
export interface OrtBackendOptions {
  /** Threads of each session's intra-op pool. Default: the number of cores (`os.availableParallelism()`). */
  readonly intraOpNumThreads?: number;
  /** Let idle pool threads spin (lower latency, burns CPU between calls). Default false (`allow_spinning: '0'`). */
  readonly allowSpinning?: boolean;
  /**
   * Elementwise, reduction, softmax and transpose kernels with fewer elements
   * than this run in TypeScript: below it a call into ORT (10-20 µs) costs
   * more than the work. Default 4,096 (measured break-even: 1,000-5,000
   * elements on 2 cores). 0 sends every kernel ORT has a graph for to ORT.
   */
  readonly minElements?: number;
  /** Matrix products under this many multiply-adds (batch · m · n · k) run in TypeScript. Default 16,384 (about 25³). */
  readonly minMatmulMacs?: number;
  /** Bytes of disposed buffers kept for reuse. Default 256 MiB. */
  readonly maxPoolBytes?: number;
  /** Sessions kept (least recently used evicted; each owns a thread pool). Default 256. */
  readonly maxSessions?: number;
  /**
   * Offer the optional convolution kernels (`conv`, `convTranspose`,
   * `convWeightGrad`: ORT's Conv and ConvTranspose, float32). Default true;
   * false leaves convolutions to core's unfold path (for comparisons).
   */
  readonly convolutions?: boolean;
}

/**
 * @internal What {@link OrtBackend.intercept} routes a kernel call to: the
 * kernel's name, its arguments, and `eager`, which runs it as usual.
 */
export type KernelHandler = (kernel: string, args: unknown[], eager: () => unknown) => unknown;

/** Where each kernel ran, for tests and tuning: `counts['matmul:ort']`, `counts['unary:ts']`, ... */
export type KernelCounts = Record<string, number>;

/** Memory, sessions and kernel routing of an {@link OrtBackend}, from {@link OrtBackend.stats}. */
export interface OrtBackendStats {
  /** Handles not disposed yet (also {@link OrtBackend.liveCount}). */
  readonly liveHandles: number;
  /** Distinct buffers behind the live handles, and their bytes. */
  readonly liveBuffers: number;
  /** Bytes of those buffers. */
  readonly liveBytes: number;
  /** Disposed buffers kept for reuse. */
  readonly pooledBuffers: number;
  /** Bytes of the pooled buffers. */
  readonly pooledBytes: number;
  /** The cache of ORT sessions (one per kernel variant). */
  readonly sessions: SessionCacheStats;
  /** Where each kernel ran so far. */
  readonly kernels: Readonly<KernelCounts>;
}
