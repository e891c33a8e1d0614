/**
 * The reference measured live, in the same run as ours: the shared folder's
 * `bench_ref.py --one WORKLOAD CONFIGURATION THREADS REPEATS` runs BackPACK +
 * PyTorch on one configuration in a fresh Python process (so its peak RSS is
 * that configuration's alone) and prints one JSON line. The folder's
 * README.md says how it is set up; its sources stay outside the repository.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from './backends.js';
import { WITHOUT_REFERENCE } from './configurations.js';
import type { Config } from './measure.js';
import { formatMs } from './progress.js';
import { parseReferenceRun, referenceKey, type Reference, type ReferencePassTime, type ReferenceRun } from './reference.js';

/** The interpreter setup.sh installs torch for (Debian's python3-torch). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = 'bench_ref.py';

export interface LiveSetup {
  /** The shared reference folder: bench_ref.py, bp_shim.py, setup.sh, README.md. */
  readonly folder: string;
  /** Where setup.sh unpacked BackPACK and its two dependencies. */
  readonly site: string;
}

/** One configuration to run on the reference. */
export interface LiveJob {
  readonly threads: number;
  readonly workload: Config['workload'];
  readonly configuration: Config['extension'];
}

/** A pass of the reference over the run's configurations. */
export type LivePass = ReferencePassTime & { readonly runs: ReadonlyMap<string, ReferenceRun> };

/**
 * Finds the live reference: the folder in `BACKPACK_REFERENCE_DIR`, else
 * `shared/reference` next to the repository; the site folder in
 * `BACKPACK_REFERENCE_SITE`, else `~/.cache/backpack-reference/site`. Returns
 * what is missing and the command that sets it up when it is not there.
 */
export function findLiveSetup(): { setup?: LiveSetup; problem?: string } {
  const folder = process.env['BACKPACK_REFERENCE_DIR'] ?? fileURLToPath(new URL('../../../shared/reference', import.meta.url));
  const site = process.env['BACKPACK_REFERENCE_SITE'] ?? join(homedir(), '.cache', 'backpack-reference', 'site');
  const missing = [
    { path: join(folder, SCRIPT), hint: 'the script; BACKPACK_REFERENCE_DIR names its folder' },
    { path: join(site, 'backpack'), hint: 'BackPACK; BACKPACK_REFERENCE_SITE names the site folder' },
    { path: PYTHON, hint: 'the Python setup.sh installs torch for' },
  ].filter(({ path }) => !existsSync(path));
  if (missing.length > 0) {
    return { problem: `missing ${missing.map(({ path, hint }) => `${path} (${hint})`).join(', ')}.\n${setupHint(folder, site)}` };
  }
  return { setup: { folder, site } };
}

/** The set-up line of the reference folder's README.md, with this machine's paths. */
function setupHint(folder: string, site: string): string {
  return (
    `Set it up with: UNFOLDND_GITDIR=<git dir of f-dangel/unfoldNd> EINOPS_GITDIR=<git dir of arogozhnikov/einops> ` +
    `${join(folder, 'setup.sh')} <git dir of f-dangel/backpack> ${site}  (see ${join(folder, 'README.md')})`
  );
}

/**
 * Imports BackPACK and torch as bench_ref.py does, and returns what the
 * reference is (e.g. "BackPACK 1.6.0 + PyTorch 1.13.0a0 CPU"); throws with
 * the set-up line when it cannot.
 */
export async function probeLiveSetup(setup: LiveSetup): Promise<string> {
  try {
    const version = await python(setup, ['-c', 'import bp_shim, backpack, torch; print(torch.__version__)'], 120);
    // setup.sh unpacks BackPACK's tag 1.6.0, which carries no version of its own.
    return `BackPACK 1.6.0 + PyTorch ${version.trim()} CPU`;
  } catch (error) {
    throw new Error(`the live reference does not start (${describeError(error)}).\n${setupHint(setup.folder, setup.site)}`);
  }
}

/**
 * The configurations of a run the reference can run (once per thread count,
 * workload and configuration), and those it is not asked to run, with why:
 * the ones the static file records as skipped (cnn KFRA, over 10 minutes
 * per step in BackPACK). `--one` does not skip them itself.
 */
export function liveJobs(configs: readonly Config[], file: Reference | undefined): { jobs: LiveJob[]; skipped: Map<string, string> } {
  const jobs: LiveJob[] = [];
  const skipped = new Map<string, string>();
  const seen = new Set<string>();
  for (const { threads, workload, extension: configuration } of configs) {
    const key = referenceKey(threads, workload, configuration);
    if (seen.has(key) || WITHOUT_REFERENCE.includes(configuration)) continue;
    seen.add(key);
    const reason = file?.entry(threads, workload, configuration)?.skipped;
    if (reason === undefined) jobs.push({ threads, workload, configuration });
    else skipped.set(key, `${reason} (the reference file's record; not run live)`);
  }
  return { jobs, skipped };
}

/**
 * Runs the reference on each job in turn (one process at a time: the
 * machine is shared), reporting each on stderr. `timeoutS` bounds one
 * process: bench_ref.py reports only at its end.
 */
export async function measurePass(
  setup: LiveSetup,
  jobs: readonly LiveJob[],
  options: { readonly repeats: number; readonly timeoutS: number; readonly label: string },
): Promise<LivePass> {
  const startedAt = new Date().toISOString();
  const runs = new Map<string, ReferenceRun>();
  for (const [index, job] of jobs.entries()) {
    const args = [join(setup.folder, SCRIPT), '--one', job.workload, job.configuration, String(job.threads), String(options.repeats)];
    let run: ReferenceRun;
    try {
      run = parseReferenceRun(await python(setup, args, options.timeoutS));
    } catch (error) {
      run = { status: 'error', message: describeError(error) };
    }
    runs.set(referenceKey(job.threads, job.workload, job.configuration), run);
    const summary =
      run.status === 'ok'
        ? `median ${formatMs(run.medianMs)}, min ${formatMs(run.minMs)}, peak RSS ${Math.round(run.peakRssMiB)} MiB`
        : `error: ${run.message}`;
    process.stderr.write(`[reference ${options.label} ${index + 1}/${jobs.length}] t${job.threads} ${job.workload} ${job.configuration}: ${summary}\n`);
  }
  return { startedAt, finishedAt: new Date().toISOString(), runs };
}

/** Runs the reference's Python with its folders on the path; resolves to stdout, rejects with stderr's last line. */
function python(setup: LiveSetup, args: readonly string[], timeoutS: number): Promise<string> {
  const env = { ...process.env, PYTHONPATH: `${setup.site}:${setup.folder}` };
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { env, timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else if (error.signal === 'SIGKILL') reject(new Error(`stopped after ${timeoutS} s`));
      else reject(new Error(stderr.trim().split('\n').at(-1) || error.message));
    });
  });
}
