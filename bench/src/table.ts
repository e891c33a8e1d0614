/**
 * The tables of a run, as aligned text for the terminal or as Markdown for
 * docs/PERFORMANCE.md: times with the ratio ours/reference next to each
 * figure (same workload, batch size and thread count), the reference's own
 * time, peak RSS, notes, and the scaling in N.
 */
import { CONFIGURATION_LABELS, CONFIGURATION_NAMES } from './configurations.js';
import { EXTENSION_LABELS, EXTENSION_NAMES, type ExtensionName } from './extensions.js';
import { formatMs } from './progress.js';
import { DRIFT_LIMIT } from './reference.js';
import type { ResultRow } from './results.js';
import { WORKLOAD_NAMES, type WorkloadName } from './workloads.js';

export type TableFormat = 'text' | 'markdown';

/** `0.84x`; `-` when there is no ratio. */
export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '-';
  return ratio < 10 ? `${ratio.toFixed(2)}x` : `${ratio.toFixed(0)}x`;
}

/** The cell of a time: the figure, or why there is none. */
function timeCell(row: ResultRow, which: 'medianMs' | 'minMs'): string {
  const { outcome } = row;
  if (outcome.status === 'ok') return formatMs(outcome[which]);
  if (outcome.status === 'timeout') return `timeout >${outcome.budgetS} s`;
  return outcome.status;
}

function ratioCell(row: ResultRow, which: 'median' | 'min'): string {
  if (row.outcome.status === 'timeout') return row.reference?.skipped !== undefined ? 'ref. skipped' : `> ${formatRatio(timeoutRatio(row, which))}`;
  if (row.outcome.status !== 'ok') return '';
  if (row.reference === undefined) return 'no ref.';
  if (row.reference.skipped !== undefined) return 'ref. skipped';
  if (row.reference.error !== undefined) return 'ref. failed';
  return formatRatio(row.ratio?.[which]);
}

/** The budget over the reference's time: a lower bound of the ratio of a configuration that timed out. */
function timeoutRatio(row: ResultRow, which: 'median' | 'min'): number | undefined {
  if (row.outcome.status !== 'timeout') return undefined;
  const referenceMs = which === 'median' ? row.reference?.medianMs : row.reference?.minMs;
  return referenceMs === undefined ? undefined : (row.outcome.budgetS * 1000) / referenceMs;
}

function formatMiB(mib: number | undefined): string {
  return mib === undefined ? '' : `${Math.round(mib)} MiB`;
}

/** A row's configuration as the table names it: `KFLR`, `KFLR, compiled`. */
export function configurationLabel(row: ResultRow): string {
  return `${CONFIGURATION_LABELS[row.config.extension]}${row.config.compiled === true ? ', compiled' : ''}`;
}

/** The eager row of the same configuration as a compiled row, in `rows`. */
function eagerTwin(row: ResultRow, rows: readonly ResultRow[]): ResultRow | undefined {
  const c = row.config;
  return rows.find(
    (other) =>
      other.config.compiled !== true &&
      other.config.workload === c.workload &&
      other.config.batchSize === c.batchSize &&
      other.config.extension === c.extension &&
      other.run === row.run,
  );
}

/** Why a row has no figure or no ratio, or what to keep in mind reading it; a compiled row's time against its eager row of the same run. */
function notesCell(row: ResultRow, rows: readonly ResultRow[]): string {
  const notes: string[] = [];
  if (row.config.compiled === true && row.outcome.status === 'ok') {
    const eager = eagerTwin(row, rows);
    if (eager?.outcome.status === 'ok') notes.push(`${formatRatio(row.outcome.medianMs / eager.outcome.medianMs)} the eager median`);
    if (row.outcome.notReplayed !== undefined) notes.push(`not replayed: ${row.outcome.notReplayed}`);
  }
  if (row.outcome.status === 'skipped') notes.push(row.outcome.reason);
  if (row.outcome.status === 'error') notes.push(`error: ${row.outcome.message}`);
  const reference = row.reference;
  if (reference?.skipped !== undefined) notes.push(`reference skipped: ${reference.skipped}`);
  if (reference?.error !== undefined) notes.push(`reference failed: ${reference.error}`);
  const runs = reference?.runs ?? [];
  const failed = runs.flatMap((run) => (run.status === 'error' ? [run.message] : []));
  if (reference?.error === undefined && failed.length > 0) notes.push(`${failed.length} of ${runs.length} reference runs failed: ${failed[0]}`);
  if (reference?.drift !== undefined && reference.drift > DRIFT_LIMIT) {
    const medians = runs.map((run) => (run.status === 'ok' ? formatMs(run.medianMs) : 'failed')).join(' / ');
    notes.push(`reference drift ${formatRatio(reference.drift)} (medians ${medians}, before / after ours)`);
  }
  return notes.join('; ');
}

/** The main table of one backend at one thread count. */
export function mainTable(rows: readonly ResultRow[], format: TableFormat): string {
  const headers = ['workload', 'N', 'configuration', 'median', 'x ref', 'min', 'x ref', 'CPU', 'x ref', 'peak RSS', 'x ref', 'ref. median', 'ref. RSS', 'notes'];
  const body = sortRows(rows).map((row) => [
    row.config.workload,
    String(row.config.batchSize),
    configurationLabel(row),
    timeCell(row, 'medianMs'),
    ratioCell(row, 'median'),
    timeCell(row, 'minMs'),
    ratioCell(row, 'min'),
    row.outcome.status === 'ok' && row.outcome.medianCpuMs !== undefined ? formatMs(row.outcome.medianCpuMs) : '',
    row.outcome.status === 'ok' && row.reference?.medianMs !== undefined ? formatRatio(row.outcome.medianCpuMs / row.reference.medianMs) : '',
    formatMiB(row.outcome.status === 'ok' ? row.outcome.peakRssMiB : undefined),
    row.outcome.status === 'ok' && row.reference?.peakRssMiB !== undefined ? formatRatio(row.ratio?.peakRss) : '',
    row.reference?.medianMs === undefined ? '' : formatMs(row.reference.medianMs),
    formatMiB(row.reference?.peakRssMiB),
    notesCell(row, rows),
  ]);
  return render(headers, body, ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'], format);
}

/** What the memory columns of a main table compare, with our baseline before the first step. */
export function memoryNote(rows: readonly ResultRow[]): string {
  const baselines = rows.flatMap((row) => (row.outcome.status === 'ok' ? [row.outcome.baselineRssMiB] : []));
  const [low, high] = [Math.round(Math.min(...baselines)), Math.round(Math.max(...baselines))];
  const ours = baselines.length === 0 ? 'Node + tsx + the backend' : `Node + tsx + the backend, ${low === high ? low : `${low}-${high}`} MiB before the first step`;
  return (
    `peak RSS and ref. RSS are both whole-process peak RSS of a process that ran only that configuration ` +
    `(ours: ${ours}; the reference: Python + torch + BackPACK), so the memory "x ref" includes the two runtimes' different baselines.`
  );
}

/** The scaling table of one backend, thread count and workload: median per N and t(1024)/t(512). */
export function scalingTable(rows: readonly ResultRow[], format: TableFormat): string {
  const sizes = [...new Set(rows.map((row) => row.config.batchSize))].sort((a, b) => a - b);
  const headers = ['extension', ...sizes.map((n) => `N=${n}`), 't(1024)/t(512)', 'CPU(1024)/CPU(512)'];
  const body: string[][] = [];
  for (const extension of EXTENSION_NAMES) {
    const byN = new Map(rows.filter((row) => row.config.extension === extension).map((row) => [row.config.batchSize, row]));
    if (byN.size === 0) continue;
    const cells = sizes.map((n) => {
      const row = byN.get(n);
      if (row === undefined) return '';
      if (row.outcome.status === 'ok') return formatMs(row.outcome.medianMs);
      return row.outcome.status === 'timeout' ? `timeout >${row.outcome.budgetS} s` : row.outcome.status;
    });
    body.push([
      EXTENSION_LABELS[extension],
      ...cells,
      formatScaling(scalingRatio(rows, extension)),
      formatScaling(scalingRatio(rows, extension, 'medianCpuMs')),
    ]);
  }
  return render(headers, body, ['l', ...sizes.map(() => 'r' as const), 'r', 'r'], format);
}

/** time(N=1024) / time(N=512) of an extension's median (wall or CPU), when both ran. */
export function scalingRatio(
  rows: readonly ResultRow[],
  extension: ExtensionName,
  which: 'medianMs' | 'medianCpuMs' = 'medianMs',
): number | undefined {
  const at = (n: number) => {
    const row = rows.find((r) => r.config.extension === extension && r.config.batchSize === n);
    return row?.outcome.status === 'ok' ? row.outcome[which] : undefined;
  };
  const [big, small] = [at(1024), at(512)];
  return big === undefined || small === undefined ? undefined : big / small;
}

function formatScaling(ratio: number | undefined): string {
  if (ratio === undefined) return '-';
  return `${ratio.toFixed(2)}${ratio <= 2.2 ? '' : ' (> 2.2)'}`;
}

function sortRows(rows: readonly ResultRow[]): ResultRow[] {
  const workloadOrder = (w: WorkloadName) => WORKLOAD_NAMES.indexOf(w);
  return [...rows].sort(
    (a, b) =>
      workloadOrder(a.config.workload) - workloadOrder(b.config.workload) ||
      a.config.batchSize - b.config.batchSize ||
      CONFIGURATION_NAMES.indexOf(a.config.extension) - CONFIGURATION_NAMES.indexOf(b.config.extension) ||
      Number(a.config.compiled === true) - Number(b.config.compiled === true),
  );
}

/** Aligned text, or a Markdown table. */
export function render(headers: readonly string[], body: readonly (readonly string[])[], align: readonly ('l' | 'r')[], format: TableFormat): string {
  if (format === 'markdown') {
    const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    const rule = `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`;
    return [line(headers), rule, ...body.map(line)].join('\n');
  }
  const widths = headers.map((header, i) => Math.max(header.length, ...body.map((row) => (row[i] ?? '').length)));
  const pad = (cells: readonly string[]) =>
    cells.map((cell, i) => (align[i] === 'r' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [pad(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(pad)].join('\n');
}
