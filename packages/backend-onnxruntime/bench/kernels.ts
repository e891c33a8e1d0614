/**
 * Per-kernel timings of the onnxruntime backend against backend-cpu, through
 * the Backend API (handle creation, the ORT call, the output copy included).
 *
 *   pnpm --filter @backpack-ts/backend-onnxruntime bench            # everything
 *   pnpm --filter @backpack-ts/backend-onnxruntime bench -- gemm    # only names containing "gemm"
 */
import { CpuBackend } from '@backpack-ts/backend-cpu';
import {
  Generator,
  conv as convolve,
  convTranspose,
  convWeightGrad,
  keep,
  sizeOf,
  tidy,
  windowOutputSize,
  type Backend,
  type DType,
  type FloatDType,
  type Tensor,
  type WindowGeometry,
} from '@backpack-ts/core';
import { OrtBackend } from '../src/index.js';

const filter = process.argv.slice(2).filter((a) => a !== '--');
const cpu = new CpuBackend();
// Forced: every kernel through ORT, to measure ORT itself (the default backend would route small ones to TypeScript).
const ort = new OrtBackend({ minElements: 0, minMatmulMacs: 0 });
// The same without the convolution kernels: core's unfold path on ORT's kernels.
const ortUnfold = new OrtBackend({ minElements: 0, minMatmulMacs: 0, convolutions: false });

/** Median milliseconds of `fn` (which returns a handle to dispose) over enough repetitions for ~0.3 s. */
function time(backend: Backend, fn: () => unknown): number {
  for (let i = 0; i < 3; i++) backend.dispose(fn());
  const samples: number[] = [];
  const budget = performance.now() + 300;
  while (samples.length < 5 || (performance.now() < budget && samples.length < 2000)) {
    const t0 = performance.now();
    const h = fn();
    samples.push(performance.now() - t0);
    backend.dispose(h);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

function random(n: number): Float64Array {
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
  return data;
}

interface Row {
  name: string;
  cpuMs: number;
  ortMs: number;
  gflops?: number;
}
const rows: Row[] = [];

function bench(name: string, flops: number | undefined, setup: (b: Backend) => () => unknown): void {
  if (filter.length > 0 && !filter.some((f) => name.includes(f))) return;
  const cpuMs = time(cpu as Backend, setup(cpu as Backend));
  const ortMs = time(ort as Backend, setup(ort as Backend));
  const row: Row = { name, cpuMs, ortMs, ...(flops !== undefined && { gflops: flops / ortMs / 1e6 }) };
  rows.push(row);
  const gf = flops === undefined ? '' : `  (cpu ${(flops / cpuMs / 1e6).toFixed(1)} GFLOP/s, ort ${(flops / ortMs / 1e6).toFixed(1)} GFLOP/s)`;
  console.log(`${name.padEnd(40)} cpu ${cpuMs.toFixed(3).padStart(9)} ms  ort ${ortMs.toFixed(3).padStart(9)} ms  x${(cpuMs / ortMs).toFixed(1)}${gf}`);
}

for (const dtype of ['float32', 'float64'] as FloatDType[]) {
  for (const size of [32, 64, 128, 256, 512, 1024]) {
    bench(`gemm ${size}^3 ${dtype}`, 2 * size ** 3, (b) => {
      const a = b.fromData(random(size * size), [1, size, size], dtype);
      const c = b.fromData(random(size * size), [1, size, size], dtype);
      return () => b.matmul(a, [1, size, size], c, [1, size, size], false, false, dtype);
    });
  }
  bench(`gemm 512x784 @ 784x10 (T) ${dtype}`, 2 * 512 * 784 * 10, (b) => {
    const a = b.fromData(random(512 * 784), [1, 512, 784], dtype);
    const w = b.fromData(random(10 * 784), [1, 10, 784], dtype);
    return () => b.matmul(a, [1, 512, 784], w, [1, 10, 784], false, true, dtype);
  });
  bench(`batched gemm 64 x 64x64x64 ${dtype}`, 64 * 2 * 64 ** 3, (b) => {
    const a = b.fromData(random(64 * 64 * 64), [64, 64, 64], dtype);
    return () => b.matmul(a, [64, 64, 64], a, [64, 64, 64], false, true, dtype);
  });
}

const dtype: DType = 'float32';
for (const n of [1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000]) {
  bench(`add ${n}`, undefined, (b) => {
    const a = b.fromData(random(n), [n], dtype);
    return () => b.binary('add', a, [n], a, [n], [n], dtype);
  });
  bench(`exp ${n}`, undefined, (b) => {
    const a = b.fromData(random(n), [n], dtype);
    return () => b.unary('exp', a, [n], dtype);
  });
  bench(`sum rows ${n}`, undefined, (b) => {
    const a = b.fromData(random(n), [n / 100, 100], dtype);
    return () => b.reduce('sum', a, [n / 100, 100], [1], dtype);
  });
  bench(`transpose ${n}`, undefined, (b) => {
    const a = b.fromData(random(n), [n / 100, 100], dtype);
    return () => b.permute(a, [n / 100, 100], [1, 0], dtype);
  });
  bench(`softmax rows ${n}`, undefined, (b) => {
    const a = b.fromData(random(n), [n / 100, 100], dtype);
    return () => b.softmax(a, [n / 100, 100], 1, dtype);
  });
}
for (const s of [8, 16, 24, 32, 48]) {
  bench(`small gemm ${s}^3`, 2 * s ** 3, (b) => {
    const a = b.fromData(random(s * s), [1, s, s], dtype);
    return () => b.matmul(a, [1, s, s], a, [1, s, s], false, false, dtype);
  });
}
// The window kernels of the cnn benchmark (N = 128; "x10" = DiagGGNExact's 10 backpropagated columns).
const conv: WindowGeometry = { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
const pool: WindowGeometry = { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] };
for (const dtype of ['float32', 'float64'] as FloatDType[]) {
  for (const [name, n, c, size, window] of [
    ['conv1', 128, 1, 28, conv],
    ['pool1', 128, 16, 28, pool],
    ['conv2', 128, 16, 14, conv],
    ['conv2 x10', 1280, 16, 14, conv],
    ['pool2', 128, 32, 14, pool],
  ] as const) {
    const shape = [n, c, size, size];
    const k = sizeOf(window.kernel);
    const l = sizeOf(windowOutputSize([size, size], window));
    const colsShape = [n, c * k, l];
    bench(`unfold ${name} ${dtype}`, undefined, (b) => {
      const x = b.fromData(random(n * c * size * size), shape, dtype);
      return () => b.unfold(x, shape, window, dtype);
    });
    bench(`fold ${name} ${dtype}`, undefined, (b) => {
      const cols = b.fromData(random(n * c * k * l), colsShape, dtype);
      return () => b.fold(cols, colsShape, [size, size], window, dtype);
    });
    if (window === pool) {
      bench(`argmax ${name} ${dtype}`, undefined, (b) => {
        const cols = b.fromData(random(n * c * k * l), [n, c, k, l], dtype);
        return () => b.argmax(cols, [n, c, k, l], 2, dtype);
      });
    }
  }
}
// The cnn benchmark's convolutions through core's ops: ORT's Conv / ConvTranspose against core's unfold path on ORT.
function compareConv(name: string, run: (b: Backend, g: Generator) => () => Tensor): void {
  if (filter.length > 0 && !filter.some((f) => name.includes(f))) return;
  const [unfoldMs, nativeMs] = [ortUnfold, ort].map((b) => {
    const fn = run(b as Backend, new Generator(0));
    return time(b as Backend, () => keep(tidy(fn)).handle);
  });
  console.log(`${name.padEnd(40)} unfold ${unfoldMs!.toFixed(3).padStart(9)} ms  native ${nativeMs!.toFixed(3).padStart(9)} ms  x${(unfoldMs! / nativeMs!).toFixed(2)}`);
}
for (const [name, n, c, o, size] of [
  ['conv1', 128, 1, 16, 28],
  ['conv2', 128, 16, 32, 14],
] as const) {
  const options = (b: Backend) => ({ backend: b, dtype: 'float32' as const });
  compareConv(`conv ${name} forward`, (b, g) => {
    const [x, w, bias] = [g.normal([n, c, size, size], options(b)), g.normal([o, c, 3, 3], options(b)), g.normal([o], options(b))];
    return () => convolve(x, w, conv, 1, bias).output;
  });
  compareConv(`conv ${name} input gradient`, (b, g) => {
    const [mat, w] = [g.normal([n, o, size, size], options(b)), g.normal([o, c, 3, 3], options(b))];
    return () => convTranspose(mat, w, [size, size], conv);
  });
  compareConv(`conv ${name} weight gradient`, (b, g) => {
    const [x, mat] = [g.normal([n, c, size, size], options(b)), g.normal([1, n, o, size, size], options(b))];
    return () => convWeightGrad(x, mat, conv);
  });
}
ort.release();
ortUnfold.release();
