/**
 * Timing and peak memory of configurations, each measured in a child process
 * (`worker.ts`): peak RSS is then that configuration's alone, and a
 * configuration that is too slow (one step over the budget) or crashes is
 * killed and reported without taking the run down.
 *
 * One step = `zeroGrad`, extended forward, loss, backward with the
 * configuration's extensions, and reading every quantity (the loss, `.grad`
 * and each extension's field of every parameter) back into JS memory with
 * `toArray()`; for a Hessian-free product (`products.ts`), `zeroGrad`,
 * forward, loss and the product, read back the same way. Everything the
 * step created is disposed at its end (`tidy`), which backends with manual
 * memory need. A compiled configuration runs the same pass through the
 * backend's compiled step (traced in the first warm-up step, replayed from
 * the second on).
 */
import { backpack, tidy, type Extension, type FloatDType, type Quantity, type Tensor } from '@backpack-ts/core';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBackend, describeError, type BackendName, type CompiledStepLike } from './backends.js';
import { isExtensionName, type ConfigurationName } from './configurations.js';
import { makeExtensions } from './extensions.js';
import { makeProduct } from './products.js';
import { buildWorkload, type Workload, type WorkloadName } from './workloads.js';

/** One configuration: what to build and how many steps to time. */
export interface Config {
  readonly backend: BackendName;
  readonly threads: number;
  readonly dtype: FloatDType;
  readonly workload: WorkloadName;
  readonly batchSize: number;
  readonly extension: ConfigurationName;
  readonly warmup: number;
  readonly steps: number;
  /** The step compiled into one graph by the backend (`--compiled`); absent: eager. */
  readonly compiled?: boolean;
}

/** What a child reports for one configuration that ran to the end. */
export interface Timing {
  /** Every timed step, ms, in order. */
  readonly timesMs: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  /**
   * CPU time (user + system, all threads of the child) of every timed step,
   * ms, and its median. On a loaded machine this is steadier than wall time
   * for a single-threaded backend; for a multithreaded one it sums threads.
   */
  readonly cpuMs: readonly number[];
  readonly medianCpuMs: number;
  /** Warm-up steps, ms. */
  readonly warmupMs: readonly number[];
  /** Building the workload on the backend (after loading it), ms. */
  readonly setupMs: number;
  /** Peak resident set size of the child at the end, MiB (`process.resourceUsage().maxRSS`). */
  readonly peakRssMiB: number;
  /** Peak RSS before the first step (Node, tsx, the backend, the model and the batch), MiB. */
  readonly baselineRssMiB: number;
  /** What the backend computes with (cpu: 1 whatever --threads says). */
  readonly effectiveThreads: number;
  readonly backendNote: string;
  /** A compiled configuration whose last step was not replayed: why (the backend's `reason`). */
  readonly notReplayed?: string;
}

export type Outcome =
  | ({ readonly status: 'ok' } & Timing)
  | { readonly status: 'timeout'; readonly budgetS: number; readonly phase: string; readonly completedMs: readonly number[] }
  | { readonly status: 'error'; readonly message: string; readonly completedMs: readonly number[] }
  | { readonly status: 'skipped'; readonly reason: string };

/** Messages from the child to the parent. */
type WorkerMessage =
  | { readonly type: 'setup'; readonly index: number }
  | { readonly type: 'step-start'; readonly index: number; readonly step: number; readonly warmup: boolean }
  | { readonly type: 'step-end'; readonly index: number; readonly step: number; readonly warmup: boolean; readonly ms: number }
  | { readonly type: 'done'; readonly index: number; readonly timing: Timing }
  | { readonly type: 'error'; readonly index: number; readonly message: string };

/** What the parent tells its caller while a child runs. */
export type ProgressEvent =
  | { readonly type: 'start'; readonly config: Config }
  | { readonly type: 'step'; readonly config: Config; readonly done: number; readonly total: number; readonly lastMs?: number }
  | { readonly type: 'finish'; readonly config: Config; readonly outcome: Outcome };

export interface RunOptions {
  /** A step (or the set-up) taking longer than this is killed and reported as a timeout. */
  readonly stepBudgetS: number;
  /** Run all configurations in one child (peak RSS is then cumulative): for --quick. */
  readonly shareProcess?: boolean;
  /**
   * Asked right before a configuration's child starts (not with
   * `shareProcess`): a reason to skip it, given the outcomes so far.
   */
  readonly skip?: (config: Config, earlier: readonly Outcome[]) => string | undefined;
  /** Write a V8 CPU profile of each child into a folder of this one named after its (first) configuration. */
  readonly cpuProfDir?: string;
  readonly onProgress?: (event: ProgressEvent) => void;
}

/** `cpu-t1-mlp-N256-Variance`: a configuration as a file name. */
export function configName(config: Config): string {
  return `${config.backend}-t${config.threads}-${config.workload}-N${config.batchSize}-${config.extension}${config.compiled === true ? '-compiled' : ''}`;
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/**
 * Measures configurations in children, one per configuration (or one for
 * all with `shareProcess`, restarted after a timeout or a crash), and returns
 * their outcomes in order.
 */
export async function measureAll(configs: readonly Config[], options: RunOptions): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  while (outcomes.length < configs.length) {
    const remaining = configs.slice(outcomes.length);
    const reason = options.shareProcess === true ? undefined : options.skip?.(remaining[0]!, outcomes);
    if (reason !== undefined) {
      const outcome: Outcome = { status: 'skipped', reason };
      options.onProgress?.({ type: 'finish', config: remaining[0]!, outcome });
      outcomes.push(outcome);
      continue;
    }
    const batch = options.shareProcess === true ? remaining : remaining.slice(0, 1);
    outcomes.push(...(await runChild(batch, options)));
  }
  return outcomes;
}

/**
 * Runs configurations in one child until they are all done or one of them
 * fails the child (timeout, crash); returns the outcomes of those that ended,
 * the failing one included.
 */
function runChild(configs: readonly Config[], options: RunOptions): Promise<Outcome[]> {
  const notify = options.onProgress ?? (() => {});
  return new Promise((resolve) => {
    const outcomes: Outcome[] = [];
    let completedMs: number[] = [];
    let phase = 'set-up';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const profile = options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(options.cpuProfDir, configName(configs[0]!))}`];
    const child = fork(WORKER, [JSON.stringify(configs)], {
      execArgv: [...process.execArgv, ...profile],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });

    const current = () => configs[outcomes.length]!;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        finish({ status: 'timeout', budgetS: options.stepBudgetS, phase, completedMs });
        child.kill('SIGKILL');
      }, options.stepBudgetS * 1000);
    };
    const finish = (outcome: Outcome) => {
      if (settled) return;
      notify({ type: 'finish', config: current(), outcome });
      outcomes.push(outcome);
      completedMs = [];
      if (outcome.status !== 'ok' || outcomes.length === configs.length) {
        settled = true;
        clearTimeout(timer);
        resolve(outcomes);
      }
    };

    notify({ type: 'start', config: current() });
    arm();
    child.on('message', (raw) => {
      const message = raw as WorkerMessage;
      const config = configs[message.index]!;
      const total = config.warmup + config.steps;
      switch (message.type) {
        case 'setup':
          if (message.index > 0) notify({ type: 'start', config });
          phase = 'set-up';
          arm();
          break;
        case 'step-start':
          phase = `${message.warmup ? 'warm-up' : 'timed'} step ${message.step + 1} of ${total}`;
          arm();
          break;
        case 'step-end':
          completedMs.push(message.ms);
          notify({ type: 'step', config, done: message.step + 1, total, lastMs: message.ms });
          break;
        case 'done':
          finish({ status: 'ok', ...message.timing });
          break;
        case 'error':
          finish({ status: 'error', message: message.message, completedMs });
          break;
      }
    });
    child.on('exit', (code, signal) => {
      if (settled) return;
      const detail = stderr.trim().split('\n').slice(-3).join(' | ');
      const how = signal !== null ? `killed by ${signal}` : `exited with code ${String(code)}`;
      finish({ status: 'error', message: `child ${how} during ${phase}${detail ? `: ${detail}` : ''}`, completedMs });
      // The child is gone: whatever it had not started is run by the next child.
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(outcomes);
      }
    });
  });
}

// ---- in the child ----

/** The child's main: measures its configurations in order, reporting over IPC. */
export async function runWorker(configs: readonly Config[], send: (message: WorkerMessage) => void): Promise<void> {
  for (const [index, config] of configs.entries()) {
    send({ type: 'setup', index });
    try {
      send({ type: 'done', index, timing: await measureHere(config, index, send) });
    } catch (error) {
      send({ type: 'error', index, message: describeError(error) });
    }
  }
}

async function measureHere(config: Config, index: number, send: (message: WorkerMessage) => void): Promise<Timing> {
  const loaded = await loadBackend(config.backend, config.threads);
  const setupStart = performance.now();
  const workload = buildWorkload(config.workload, { backend: loaded.backend, dtype: config.dtype, batchSize: config.batchSize });
  let measuredStep: () => number;
  let compiled: CompiledStepLike<Tensor> | undefined;
  if (isExtensionName(config.extension)) {
    const extensions = makeExtensions(config.extension);
    let runPass: (pass: () => Tensor) => Tensor = (pass) => pass();
    if (config.compiled === true) {
      if (loaded.compileStep === undefined) throw new Error(`the ${config.backend} backend compiles no steps`);
      compiled = loaded.compileStep(() => extendedPass(workload, extensions));
      const replay = compiled;
      runPass = () => replay.run();
    }
    measuredStep = () => runStep(workload, () => extensionWork(workload, extensions, runPass));
  } else {
    if (config.compiled === true) throw new Error(`${config.extension} is a Hessian-free product, which is not compiled`);
    const product = makeProduct(config.extension, workload);
    measuredStep = () => runStep(workload, () => productWork(product));
  }
  const setupMs = performance.now() - setupStart;
  const baselineRssMiB = maxRssMiB();

  const warmupMs: number[] = [];
  const timesMs: number[] = [];
  const cpuMs: number[] = [];
  for (let step = 0; step < config.warmup + config.steps; step++) {
    const warmup = step < config.warmup;
    send({ type: 'step-start', index, step, warmup });
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const checksum = measuredStep();
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    if (!Number.isFinite(checksum)) throw new Error(`step ${step + 1} read back a non-finite value`);
    (warmup ? warmupMs : timesMs).push(ms);
    if (!warmup) cpuMs.push((cpu.user + cpu.system) / 1000);
    send({ type: 'step-end', index, step, warmup, ms });
  }
  const sorted = [...timesMs].sort((a, b) => a - b);
  return {
    timesMs,
    medianMs: median(sorted),
    minMs: sorted[0] ?? Number.NaN,
    cpuMs,
    medianCpuMs: median([...cpuMs].sort((a, b) => a - b)),
    warmupMs,
    setupMs,
    peakRssMiB: maxRssMiB(),
    baselineRssMiB,
    effectiveThreads: loaded.threads,
    backendNote: loaded.note,
    ...(compiled?.reason !== undefined && { notReplayed: compiled.reason }),
  };
}

/** Extended forward, loss and backward with the configuration's extensions; returns the loss. */
function extendedPass(workload: Workload, extensions: readonly Extension[]): Tensor {
  const loss = workload.loss.forward(workload.model.forward(workload.inputs), workload.labels);
  if (extensions.length === 0) loss.backward();
  else backpack([...extensions], () => loss.backward());
  return loss;
}

/**
 * One timed step: `zeroGrad`, then `work` (which returns a number computed
 * from everything it read back, so that no read can be skipped), everything
 * it created disposed at the end. Profiles are summarised within this
 * function (`profile.ts`).
 */
export function runStep(workload: Workload, work: () => number): number {
  workload.model.zeroGrad();
  return tidy(work);
}

/** The extended pass run by `runPass` (as it is, or through a compiled step), the loss, `.grad` and every extension quantity read back. */
function extensionWork(workload: Workload, extensions: readonly Extension[], runPass: (pass: () => Tensor) => Tensor): number {
  const loss = runPass(() => extendedPass(workload, extensions));
  let checksum = loss.item();
  for (const [name, parameter] of workload.model.namedParameters()) {
    checksum += readBack(parameter.grad, name, 'grad');
    const fields = parameter as unknown as Record<string, Quantity | undefined>;
    for (const { savefield } of extensions) checksum += readBack(fields[savefield], name, savefield);
  }
  return checksum;
}

/** A Hessian-free product (forward, loss, product), every result read back. */
function productWork(product: () => Tensor[]): number {
  return product().reduce((checksum, result, i) => checksum + readBack(result, `parameter ${i}`, 'product'), 0);
}

function readBack(quantity: Quantity | undefined, parameter: string, field: string): number {
  if (quantity === undefined) throw new Error(`parameter '${parameter}' has no .${field} after the step`);
  const tensors = Array.isArray(quantity) ? (quantity as readonly Tensor[]) : [quantity as Tensor];
  let checksum = 0;
  for (const tensor of tensors) {
    const values = tensor.toArray();
    checksum += values.length + (values[values.length - 1] ?? 0);
  }
  return checksum;
}

function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // KiB on Linux and macOS
}

/** Median of sorted values (mean of the middle two for an even count). */
export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
