/**
 * `pnpm bench`: backpack-ts against BackPACK/PyTorch on the reference's three
 * workloads, for every backend that loads and every extension configuration.
 * Each configuration runs in its own child process; see bench/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_NAMES, describeError, loadBackend, type BackendName } from './backends.js';
import { CONFIGURATION_NAMES, isExtensionName, type ConfigurationName } from './configurations.js';
import type { ExtensionName } from './extensions.js';
import { measureAll, type Config, type Outcome } from './measure.js';
import { createProgress, formatMs } from './progress.js';
import { findLiveSetup, liveJobs, measurePass, probeLiveSetup, type LiveSetup } from './live-reference.js';
import { describeReference, liveReference, loadReference, type ReferenceInfo } from './reference.js';
import { describeMachine, describeSource, makeRow, writeResults, type ResultRow, type ResultsFile, type RunInfo } from './results.js';
import { calibrateGemm } from './calibrate.js';
import { formatRatio, mainTable, memoryNote, scalingTable, type TableFormat } from './table.js';
import { mainTargetLines, scalingTargetLines } from './targets.js';
import { REFERENCE_BATCH, WORKLOAD_NAMES, type WorkloadName } from './workloads.js';
import type { FloatDType } from '@backpack-ts/core';

const SCALING_WORKLOADS: readonly WorkloadName[] = ['seed', 'cnn'];
const SCALING_SIZES = [64, 128, 256, 512, 1024];
const QUICK_BATCH = 4;

const USAGE = `usage: pnpm bench [options]
  --workload seed|mlp|cnn     workloads (comma list; default all three)
  --backend cpu|onnxruntime|tfjs
                              backends (comma list; default every one that loads)
  --threads 1|2               thread count (comma list; default 1): ORT intra-op threads;
                              recorded for cpu, which is single-threaded
  --extension NAME            configurations (comma list; default all ${CONFIGURATION_NAMES.length}: ${CONFIGURATION_NAMES.join(', ')};
                              GGNVP and HVP are the Hessian-free products, never compiled and not in --scaling)
  --quick                     smoke run for CI: N=${QUICK_BATCH}, 1 warm-up + 1 timed step, one child per backend,
                              budget 20 s, cnn KFRA left out
  --scaling                   the scaling run instead: seed and cnn at N=${SCALING_SIZES.join(', ')}
  --batch N                   batch size of every workload instead of the reference's (no ratios then)
  --warmup K, --steps K       warm-up and timed steps (default 2 and 7, scaling 1 and 3)
  --budget S                  seconds one step may take before it is stopped as a timeout (default 60, --quick 20)
  --reference live|file       what the ratios divide by. live: BackPACK + PyTorch run on the same configurations in
                              this run, once before ours and once after (each figure the smaller of the two; drift
                              between them flagged; set-up: bench/README.md); file: the static reference file.
                              Default: live when its set-up is found and the run is at the reference's batch sizes
                              (not --quick, --scaling, --batch), else file
  --compiled                  also measure every onnxruntime configuration as a compiled step (one graph per step,
                              compileStep), next to the eager one: rows "..., compiled"
  --dtype float32|float64     (default float32, PyTorch's default)
  --cpu-prof DIR              write a V8 CPU profile of each child into DIR/<configuration>/
  --out FILE                  results file (default bench/results.json, bench/results.quick.json with --quick);
                              rows of earlier runs with other configurations are kept
  --report                    print the tables of the results file without running anything
  --markdown                  print tables as Markdown`;

interface Options {
  workloads: WorkloadName[];
  backends: BackendName[];
  threads: number[];
  extensions: ConfigurationName[];
  quick: boolean;
  scaling: boolean;
  compiled: boolean;
  batch?: number;
  warmup?: number;
  steps?: number;
  budgetS?: number;
  dtype: FloatDType;
  reference?: 'live' | 'file';
  cpuProf?: string;
  out?: string;
  report: boolean;
  format: TableFormat;
}

function parseArgs(args: readonly string[]): Options {
  const options: Options = {
    workloads: [...WORKLOAD_NAMES],
    backends: [...BACKEND_NAMES],
    threads: [1],
    extensions: [...CONFIGURATION_NAMES],
    quick: false,
    scaling: false,
    compiled: false,
    dtype: 'float32',
    report: false,
    format: 'text',
  };
  const list = <T extends string>(value: string, allowed: readonly T[], what: string): T[] => {
    const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) throw new Error(`unknown ${what} '${item}' (one of ${allowed.join(', ')})`);
    }
    if (items.length === 0) throw new Error(`--${what} needs a value`);
    return items as T[];
  };
  const positive = (value: string, what: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) throw new Error(`--${what} needs a non-negative integer, got '${value}'`);
    return number;
  };
  for (let i = 0; i < args.length; i++) {
    let arg = args[i]!;
    if (arg === '--') continue;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) [arg, value] = [arg.slice(0, eq), arg.slice(eq + 1)];
    const next = () => {
      if (value !== undefined) return value;
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    switch (arg) {
      case '--workload':
        options.workloads = list(next(), WORKLOAD_NAMES, 'workload');
        break;
      case '--backend':
        options.backends = list(next(), BACKEND_NAMES, 'backend');
        break;
      case '--threads':
        options.threads = next().split(',').map((t) => positive(t, 'threads')).filter((t) => t > 0);
        if (options.threads.length === 0) throw new Error('--threads needs a positive count');
        break;
      case '--extension':
        options.extensions = list(next(), CONFIGURATION_NAMES, 'extension');
        break;
      case '--quick':
        options.quick = true;
        break;
      case '--scaling':
        options.scaling = true;
        break;
      case '--compiled':
        options.compiled = true;
        break;
      case '--batch':
        options.batch = Math.max(1, positive(next(), 'batch'));
        break;
      case '--warmup':
        options.warmup = positive(next(), 'warmup');
        break;
      case '--steps':
        options.steps = Math.max(1, positive(next(), 'steps'));
        break;
      case '--budget':
        options.budgetS = Math.max(1, positive(next(), 'budget'));
        break;
      case '--dtype': {
        const dtype = next();
        if (dtype !== 'float32' && dtype !== 'float64') throw new Error(`--dtype must be float32 or float64, got '${dtype}'`);
        options.dtype = dtype;
        break;
      }
      case '--reference': {
        const reference = next();
        if (reference !== 'live' && reference !== 'file') throw new Error(`--reference must be live or file, got '${reference}'`);
        options.reference = reference;
        break;
      }
      case '--cpu-prof':
        options.cpuProf = fromCallerDir(next());
        break;
      case '--out':
        options.out = fromCallerDir(next());
        break;
      case '--report':
        options.report = true;
        break;
      case '--markdown':
        options.format = 'markdown';
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    }
  }
  return options;
}

/** A path given on the command line, relative to where `pnpm bench` was typed (pnpm runs scripts in bench/). */
function fromCallerDir(path: string): string {
  return resolve(process.env['INIT_CWD'] ?? process.cwd(), path);
}

/** A configuration of the run, and why it is not run, if it is not. */
interface Planned {
  readonly kind: ResultRow['kind'];
  readonly config: Config;
  readonly skip?: Extract<Outcome, { status: 'skipped' }>;
}

/** Configurations --quick leaves out: a smoke run must take seconds. */
const QUICK_SKIPS: readonly { workload: WorkloadName; extension: ExtensionName; reason: string }[] = [
  { workload: 'cnn', extension: 'KFRA', reason: 'more than a minute per step even at N=4 when this harness was written; not in --quick' },
];

/** Warm-up and timed steps of each configuration. */
function stepCounts(options: Options): { warmup: number; steps: number } {
  return {
    warmup: options.warmup ?? (options.quick || options.scaling ? 1 : 2),
    steps: options.steps ?? (options.quick ? 1 : options.scaling ? 3 : 7),
  };
}

/** The backends that compile steps (`--compiled`). */
const COMPILING_BACKENDS: readonly BackendName[] = ['onnxruntime'];

/** The configurations of a run, in table order; with `--compiled`, each extension configuration run on a compiling backend again, compiled, right after. */
function plan(options: Options, backend: BackendName, threads: number): Planned[] {
  const planned = planEager(options, backend, threads);
  if (!options.compiled || !COMPILING_BACKENDS.includes(backend)) return planned;
  return planned.flatMap((p) => (p.skip === undefined && isExtensionName(p.config.extension) ? [p, { ...p, config: { ...p.config, compiled: true } }] : [p]));
}

function planEager(options: Options, backend: BackendName, threads: number): Planned[] {
  const base = { backend, threads, dtype: options.dtype, ...stepCounts(options) };
  const configs: Planned[] = [];
  if (options.scaling) {
    // N innermost, so that a configuration that timed out is not run again at a larger N.
    for (const workload of options.workloads.filter((w) => SCALING_WORKLOADS.includes(w))) {
      for (const extension of options.extensions.filter(isExtensionName)) {
        for (const batchSize of SCALING_SIZES) configs.push({ kind: 'scaling', config: { ...base, workload, batchSize, extension } });
      }
    }
  } else {
    for (const workload of options.workloads) {
      const batchSize = options.batch ?? (options.quick ? QUICK_BATCH : REFERENCE_BATCH[workload]);
      for (const extension of options.extensions) {
        const config = { ...base, workload, batchSize, extension };
        const reason = options.quick ? QUICK_SKIPS.find((s) => s.workload === workload && s.extension === extension)?.reason : undefined;
        configs.push({ kind: 'main', config, ...(reason === undefined ? {} : { skip: { status: 'skipped', reason } }) });
      }
    }
  }
  return configs;
}

/**
 * The live reference of a run, or why the run uses the static file instead:
 * live when asked for (failing fast, with the set-up line, when it cannot
 * be), and by default when its set-up is found and the run is at the
 * reference's batch sizes.
 */
async function chooseLive(options: Options): Promise<{ live?: { setup: LiveSetup; system: string }; whyNot?: string }> {
  if (options.reference === 'file') return { whyNot: '--reference file' };
  const atReferenceSizes = !options.quick && !options.scaling && options.batch === undefined;
  const { setup, problem } = findLiveSetup();
  if (options.reference === 'live') {
    if (!atReferenceSizes) throw new Error('--reference live runs BackPACK at the reference\'s batch sizes: it does not go with --quick, --scaling or --batch');
    if (setup === undefined) throw new Error(`--reference live: the reference is not set up on this machine: ${problem}`);
  }
  if (!atReferenceSizes) return { whyNot: 'the run is not at the reference\'s batch sizes' };
  if (setup === undefined) return { whyNot: 'the live reference is not set up here (bench/README.md says how)' };
  try {
    return { live: { setup, system: await probeLiveSetup(setup) } };
  } catch (error) {
    const fallback = options.reference === undefined ? ' (or pass --reference file for the static file)' : '';
    throw new Error(`--reference live: ${describeError(error)}${fallback}`);
  }
}

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

async function main(args: readonly string[]): Promise<void> {
  const options = parseArgs(args);
  const out = options.out ?? `${BENCH_DIR}${options.quick ? 'results.quick.json' : 'results.json'}`;
  if (options.report) {
    if (!existsSync(out)) throw new Error(`no results at ${out}: run pnpm bench first`);
    const file = JSON.parse(readFileSync(out, 'utf8')) as ResultsFile;
    printReport(file.results, file.runs ?? [file], options.format);
    return;
  }

  const { live, whyNot } = await chooseLive(options);
  const startedAt = new Date().toISOString();
  const source = describeSource();
  const loadavgAtStart = loadavg();
  console.log(`backpack-ts benchmark, ${startedAt}; load average ${loadavgAtStart.map((l) => l.toFixed(2)).join(' ')} (1, 5, 15 min)`);
  const { reference: fileReference, problem } = loadReference();
  const fileInfo: ReferenceInfo = fileReference?.info ?? { kind: 'none', problem: problem ?? 'not loaded' };
  if (live !== undefined) console.log(`reference: live, ${live.system}, before and after ours (--reference file for the static file)`);
  else console.log(`reference: ${describeReference(fileInfo)}; not live: ${whyNot}`);

  // Which backends load, at which thread counts (each child loads its own again).
  const backends: ResultsFile['backends'][number][] = [];
  for (const name of options.backends) {
    for (const threads of options.threads) {
      try {
        const loaded = await loadBackend(name, threads);
        backends.push({ name, threads, loaded: true, note: loaded.note });
      } catch (error) {
        backends.push({ name, threads, loaded: false, reason: describeError(error) });
      }
    }
  }
  for (const [name, entries] of groupBy(backends, (b) => b.name)) {
    const failed = entries.find((b) => !b.loaded);
    console.log(failed === undefined ? `backend ${name}: ${entries[0]!.note}` : `backend ${name}: skipped (${failed.reason})`);
  }
  const usable = backends.filter((b) => b.loaded);
  if (usable.length === 0) throw new Error('no backend loaded');
  const calibration = calibrateGemm(options.dtype);
  console.log(`pure TypeScript GEMM ${calibration.product} ${calibration.dtype}: ${calibration.gflops.toFixed(2)} GFLOP/s (best of 10)`);

  const planned = usable.flatMap((b) => plan(options, b.name as BackendName, b.threads));
  const runnable = planned.filter((p) => p.skip === undefined);
  const { steps } = stepCounts(options);
  const budgetS = options.budgetS ?? (options.quick ? 20 : 60);

  // The live reference runs the same configurations before ours and again after, so that the
  // machine drifting during the run shows as a difference between the two passes.
  const liveRun = live && { ...live, ...liveJobs(planned.map((p) => p.config), fileReference) };
  // bench_ref.py reports only at its end: its bound is the step budget over all its steps (2 warm-ups) plus start-up.
  const passOptions = (label: string) => ({ repeats: steps, timeoutS: budgetS * (steps + 2) + 60, label });
  const before = liveRun && (await measurePass(liveRun.setup, liveRun.jobs, passOptions('before')));
  // Progress lines compare with the first pass until the second one is in.
  const provisional = liveRun && before ? liveReference(liveRun.system, [before], liveRun.skipped) : fileReference;

  const progress = createProgress(runnable.length);
  const measured: ResultRow[] = [];
  const outcomes = await measureAll(
    runnable.map((p) => p.config),
    {
      stepBudgetS: budgetS,
      shareProcess: options.quick,
      ...(options.cpuProf === undefined ? {} : { cpuProfDir: options.cpuProf }),
      skip: (config, earlier) => {
        const timedOut = runnable.some(
          (p, i) =>
            earlier[i]?.status === 'timeout' &&
            p.config.backend === config.backend &&
            p.config.threads === config.threads &&
            p.config.workload === config.workload &&
            p.config.extension === config.extension &&
            p.config.compiled === config.compiled &&
            p.config.batchSize < config.batchSize,
        );
        return timedOut ? 'timed out at a smaller N' : undefined;
      },
      onProgress(event) {
        if (event.type === 'start') progress.start(event.config);
        else if (event.type === 'step') progress.step(event.config, event.done, event.total, event.lastMs);
        else {
          const row = makeRow(runnable[measured.length]!.kind, event.config, event.outcome, provisional);
          measured.push(row);
          progress.finish(event.config, event.outcome, summarize(row));
        }
      },
    },
  );
  progress.close();
  if (outcomes.length !== measured.length) throw new Error('internal: outcomes and rows disagree');
  const after = liveRun && (await measurePass(liveRun.setup, liveRun.jobs, passOptions('after')));
  const reference = liveRun && before && after ? liveReference(liveRun.system, [before, after], liveRun.skipped) : fileReference;
  const rows = planned.map((p) => {
    if (p.skip !== undefined) return makeRow(p.kind, p.config, p.skip, reference);
    const row = measured[runnable.indexOf(p)]!;
    return makeRow(row.kind, row.config, row.outcome, reference, row.loadavg);
  });

  const run: RunInfo = {
    startedAt,
    finishedAt: new Date().toISOString(),
    source,
    loadavgAtStart,
    loadavgAtEnd: loadavg(),
    calibration,
    options: { ...options, out },
    backends,
    reference: reference?.info ?? fileInfo,
  };
  const stamped = rows.map((row) => ({ ...row, run: startedAt }));
  const merged = merge(out, stamped, run);
  const file: ResultsFile = {
    ...run,
    machine: describeMachine(),
    runs: merged.runs,
    results: merged.rows,
  };
  writeResults(out, file);

  console.log('');
  printReport(stamped, merged.runs, options.format);
  if (options.quick) console.log('\n--quick: tiny batches, one timed step; no ratios (the reference is at other batch sizes).');
  console.log(`\nload average at the end: ${file.loadavgAtEnd.map((l) => l.toFixed(2)).join(' ')}; results: ${out}`);
}

/**
 * Rows of the results file that this run did not measure again, then this
 * run's rows; and the runs that measured them.
 */
function merge(path: string, rows: readonly ResultRow[], run: RunInfo): { rows: ResultRow[]; runs: RunInfo[] } {
  const key = (row: ResultRow) => {
    const c = row.config;
    return [row.kind, c.backend, c.threads, c.dtype, c.workload, c.batchSize, c.extension, c.compiled === true ? 'compiled' : 'eager'].join('/');
  };
  let previous: ResultsFile | undefined;
  if (existsSync(path)) {
    try {
      previous = JSON.parse(readFileSync(path, 'utf8')) as ResultsFile;
    } catch {
      previous = undefined;
    }
  }
  const fresh = new Set(rows.map(key));
  const kept = (previous?.results ?? []).filter((row) => !fresh.has(key(row)));
  const used = new Set(kept.map((row) => row.run));
  const runs = [...(previous?.runs ?? []).filter((r) => used.has(r.startedAt)), run];
  return { rows: [...kept, ...rows], runs };
}

/** The tables of rows, each titled with its backend and the reference its rows' runs compared with. */
function printReport(rows: readonly ResultRow[], runs: readonly RunInfo[], format: TableFormat): void {
  const backends = runs.flatMap((run) => run.backends);
  const reference = (row: ResultRow) => describeRunReference(runs.find((run) => run.startedAt === row.run)?.reference);
  // Main tables first, then scaling; backends in the order of BACKEND_NAMES.
  const order = (row: ResultRow) => (row.kind === 'main' ? 0 : 1) * 100 + BACKEND_NAMES.indexOf(row.config.backend) * 10 + row.config.threads;
  const sorted = [...rows].sort((a, b) => order(a) - order(b));
  // Rows of runs with different references (a results file merges runs) go in separate tables.
  const groups = groupBy(sorted, (row) => `${row.kind}|${row.config.backend}|${row.config.threads}|${row.config.dtype}|${reference(row)}`);
  for (const [, group] of groups) {
    const { kind, config } = group[0]!;
    const note = backends.find((b) => b.name === config.backend && b.threads === config.threads)?.note ?? '';
    const title = `${kind === 'main' ? 'Benchmark' : 'Scaling'}: ${config.backend}, --threads ${config.threads}, ${config.dtype}`;
    const subtitle = [`backend: ${note}`, `reference (${config.threads} thread${config.threads === 1 ? '' : 's'}): ${reference(group[0]!)}`].join(
      format === 'markdown' ? '  \n' : '\n',
    );
    console.log(format === 'markdown' ? `### ${title}\n\n${subtitle}\n` : `${title}\n${subtitle}\n`);
    if (kind === 'main') {
      console.log(mainTable(group, format));
      console.log('');
      if (group.some((row) => row.reference?.peakRssMiB !== undefined)) console.log(`${memoryNote(group)}\n`);
      for (const [mode, rowsOfMode] of groupBy(group, (row) => (row.config.compiled === true ? 'compiled: ' : ''))) {
        for (const line of mainTargetLines(rowsOfMode)) console.log(format === 'markdown' ? `- ${mode}${line}` : `  ${mode}${line}`);
      }
    } else {
      for (const [workload, byWorkload] of groupBy(group, (row) => row.config.workload)) {
        console.log(format === 'markdown' ? `#### ${workload}\n` : `${workload}:`);
        console.log(scalingTable(byWorkload, format));
        console.log('');
        for (const line of scalingTargetLines(byWorkload)) console.log(format === 'markdown' ? `- ${line}` : `  ${line}`);
        console.log('');
      }
    }
    console.log('');
  }
}

/** The reference of a run in a results file; files written before it was recorded have none. */
function describeRunReference(info: ReferenceInfo | undefined): string {
  return typeof info?.kind === 'string' ? describeReference(info) : 'not recorded by the run that measured these rows';
}

/** The progress line of a finished configuration. */
function summarize(row: ResultRow): string {
  const outcome: Outcome = row.outcome;
  if (outcome.status === 'timeout') return `timeout: ${outcome.phase} took more than ${outcome.budgetS} s`;
  if (outcome.status === 'error') return `error: ${outcome.message}`;
  if (outcome.status === 'skipped') return `${outcome.status}: ${outcome.reason}`;
  const ratio = row.ratio?.median === undefined ? '' : ` (${formatRatio(row.ratio.median)} ref.)`;
  return `median ${formatMs(outcome.medianMs)}${ratio}, min ${formatMs(outcome.minMs)}, peak RSS ${Math.round(outcome.peakRssMiB)} MiB`;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
