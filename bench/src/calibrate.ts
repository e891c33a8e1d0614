/**
 * What this machine does right now: the throughput of the pure TypeScript
 * GEMM (backend-cpu's matmul) on one of the workloads' products, so that a
 * table can be read against it (and against the load average) later.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import type { FloatDType } from '@backpack-ts/core';

export interface Calibration {
  /** What was multiplied. */
  readonly product: string;
  readonly dtype: FloatDType;
  /** Best of the repetitions, GFLOP/s (2 flops per multiply-add). */
  readonly gflops: number;
}

/** `[256, 784] x [784, 256]` (mlp's first layer at N=256), best of 10 after a warm-up. */
export function calibrateGemm(dtype: FloatDType): Calibration {
  const [m, k, n] = [256, 784, 256];
  const a = cpu.fromData(Float64Array.from({ length: m * k }, (_, i) => (i % 7) / 7), [1, m, k], dtype);
  const b = cpu.fromData(Float64Array.from({ length: k * n }, (_, i) => (i % 5) / 5), [1, k, n], dtype);
  let best = Infinity;
  for (let repeat = 0; repeat < 11; repeat++) {
    const start = performance.now();
    cpu.matmul(a, [1, m, k], b, [1, k, n], false, false, dtype);
    const ms = performance.now() - start;
    if (repeat > 0) best = Math.min(best, ms);
  }
  return { product: `[${m}, ${k}] x [${k}, ${n}]`, dtype, gflops: (2 * m * k * n) / (best * 1e6) };
}
