/**
 * What recording costs a forward pass: the reference workloads (`seed`,
 * `mlp`, `cnn`) and a deep narrow MLP (64 × Linear(16, 16) + Tanh, batch 4,
 * where per-call bookkeeping weighs most against the kernels), each timed
 * forward (model and loss) under `noGrad()`, where nothing requires
 * gradients, and with recording on (parameters require gradients, so modules
 * and the ops inside them record).
 *
 *   pnpm --filter @backpack-ts/bench run forward-cost [--reps 40] [--backend cpu|onnxruntime] [--case 'deep narrow']
 *
 * It uses only APIs that predate op recording (`noGrad`, `forward`), so the
 * same file runs on an older checkout: compare its `noGrad` column with that
 * checkout's to see what recording costs code that needs no gradients.
 * Modes alternate within each repetition, so a loaded machine slows both
 * alike; the table gives the median and minimum per forward pass.
 */
import { CrossEntropyLoss, Generator, Linear, Sequential, Tanh, noGrad, tensor, tidy, type Backend, type Tensor } from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { WORKLOAD_NAMES, buildWorkload } from './workloads.js';

interface Case {
  readonly name: string;
  /** One forward pass, model and loss. */
  readonly forward: () => Tensor;
}

function deepNarrow(backend: Backend): Case {
  const generator = new Generator(0);
  const layers = Array.from({ length: 64 }, () => [new Linear(16, 16, { backend, dtype: 'float32', generator }), new Tanh()]).flat();
  const model = new Sequential(...layers);
  const loss = new CrossEntropyLoss();
  const x = generator.normal([4, 16], { backend, dtype: 'float32' });
  const y = tensor([0, 5, 10, 15], [4], { backend, dtype: 'int32' });
  return { name: 'deep narrow', forward: () => loss.forward(model.forward(x), y) };
}

function cases(backend: Backend): Case[] {
  const workloads = WORKLOAD_NAMES.map((name) => {
    const { model, loss, inputs, labels } = buildWorkload(name, { backend, dtype: 'float32' });
    return { name, forward: () => loss.forward(model.forward(inputs), labels) };
  });
  return [...workloads, deepNarrow(backend)];
}

const MODES: Readonly<Record<string, (forward: () => Tensor) => void>> = {
  noGrad: (forward) => void tidy(() => noGrad(forward).toArray()),
  recording: (forward) => void tidy(() => forward().toArray()),
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function loadBackend(name: string): Promise<Backend> {
  if (name === 'cpu') return cpu;
  const { OrtBackend } = (await import('@backpack-ts/backend-onnxruntime')) as { OrtBackend: new () => Backend };
  return new OrtBackend();
}

async function main(): Promise<void> {
  const argument = (flag: string, fallback: string) => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? process.argv[i + 1]! : fallback;
  };
  const reps = Number(argument('--reps', '40'));
  const backend = await loadBackend(argument('--backend', 'cpu'));
  const only = argument('--case', '');
  console.log(`forward pass (model and loss), float32 on ${backend.name}, ${reps} repetitions after 3 warm-ups; ms per pass, median / min`);
  console.log(['case', ...Object.keys(MODES)].map((s) => s.padEnd(22)).join(''));
  for (const { name, forward } of cases(backend).filter((c) => only === '' || c.name === only)) {
    const times = new Map(Object.keys(MODES).map((mode) => [mode, [] as number[]]));
    for (let r = 0; r < reps + 3; r++) {
      for (const [mode, run] of Object.entries(MODES)) {
        const started = performance.now();
        run(forward);
        if (r >= 3) times.get(mode)!.push(performance.now() - started);
      }
    }
    const cells = [...times.values()].map((t) => `${median(t).toFixed(3)} / ${Math.min(...t).toFixed(3)}`);
    console.log([name, ...cells].map((s) => s.padEnd(22)).join(''));
  }
}

await main();
