/**
 * Summarizes V8 CPU profiles (`pnpm bench --cpu-prof DIR ...` writes one per
 * child): the functions with the most self time and, among the workspace's
 * own functions, the most total time (time with the function on the stack).
 *
 *   pnpm --filter @backpack-ts/bench run profile DIR [--top 25]
 *   pnpm --filter @backpack-ts/bench run profile FILE.cpuprofile
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface FunctionTime {
  readonly name: string;
  readonly selfMs: number;
  readonly totalMs: number;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Self and total time per function (name and file), ms, over the samples with
 * `within` on the stack (default: inside the benchmark's timed step, so that
 * start-up and module loading do not count).
 */
export function summarizeProfile(profile: CpuProfile, within = 'runStep'): { totalMs: number; functions: FunctionTime[] } {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the time after it (the next delta) is what it stands for.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    let id: number | undefined = profile.samples[i]!;
    if (!onStack(id, within, byId, parent)) continue;
    totalMs += ms;
    const leaf = key(byId.get(id)!.callFrame);
    self.set(leaf, (self.get(leaf) ?? 0) + ms);
    const seen = new Set<string>();
    while (id !== undefined) {
      const k = key(byId.get(id)!.callFrame);
      if (!seen.has(k)) {
        seen.add(k);
        total.set(k, (total.get(k) ?? 0) + ms);
      }
      id = parent.get(id);
    }
  }
  const functions = [...total.entries()].map(([name, totalTime]) => ({ name, selfMs: self.get(name) ?? 0, totalMs: totalTime }));
  return { totalMs, functions };
}

function onStack(id: number | undefined, name: string, byId: Map<number, ProfileNode>, parent: Map<number, number>): boolean {
  for (; id !== undefined; id = parent.get(id)) if (byId.get(id)!.callFrame.functionName === name) return true;
  return false;
}

/** `name path` (tsx runs transpiled code, so V8's line numbers say nothing useful). */
function key(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  return `${name} ${frame.url.replace(/^file:\/\//, '').replace(REPO, '')}`;
}

function isWorkspaceCode(name: string): boolean {
  return / (packages|bench)\//.test(name) && !name.includes('node_modules');
}

function report(path: string, top: number): void {
  const { totalMs, functions } = summarizeProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile);
  const percent = (ms: number) => `${((100 * ms) / totalMs).toFixed(1).padStart(5)}%`;
  const line = (f: FunctionTime, ms: number) => `  ${percent(ms)} ${Math.round(ms).toString().padStart(7)} ms  ${f.name}`;
  console.log(`${path}: ${Math.round(totalMs)} ms sampled inside the timed steps (warm-up included)`);
  console.log('self time:');
  for (const f of [...functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) console.log(line(f, f.selfMs));
  console.log('total time, workspace functions:');
  for (const f of functions.filter((f) => isWorkspaceCode(f.name)).sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
    console.log(line(f, f.totalMs));
  }
  console.log('');
}

/**
 * The profiles under a path, a folder's subfolders included: of the files of
 * one child (its main thread and tsx's loader thread), the main thread's.
 */
function profiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const entries = readdirSync(path).sort().map((name) => join(path, name));
  const main = entries.filter((entry) => entry.endsWith('.cpuprofile') && readFileSync(entry, 'utf8').includes('"runStep"'));
  return [...main, ...entries.filter((entry) => statSync(entry).isDirectory()).flatMap(profiles)];
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 25;
  if (args.length === 0) {
    console.error('usage: profile DIR|FILE.cpuprofile... [--top N]');
    process.exit(2);
  }
  for (const arg of args) for (const file of profiles(arg)) report(file, top);
}
