/**
 * The issue's targets, checked on a run's rows:
 *
 * - the default Node backend (onnxruntime) at <= 1.0x the reference's median
 *   (stretch <= 0.5x) for every extension and workload, cnn KFRA finishing;
 * - the pure TypeScript backend (cpu) within 10x;
 * - time(N=1024) / time(N=512) <= 2.2 for every extension (scaling run);
 * - peak memory not above the reference's (whole-process peak RSS on both
 *   sides, so the runtimes' baselines are part of it).
 */
import { EXTENSION_NAMES } from './extensions.js';
import { DRIFT_LIMIT } from './reference.js';
import { formatRatio, scalingRatio } from './table.js';
import type { ResultRow } from './results.js';

/** Ratio limit of the median for a backend (the stretch goal for the default one is 0.5x). */
export function targetRatio(backend: string): number {
  return backend === 'cpu' ? 10 : 1;
}

/** Lines saying which of the main-table targets hold for one backend at one thread count. */
export function mainTargetLines(rows: readonly ResultRow[]): string[] {
  if (rows.length === 0) return [];
  const backend = rows[0]!.config.backend;
  const limit = targetRatio(backend);
  const compared = rows.filter((row) => row.ratio?.median !== undefined);
  const over = compared.filter((row) => row.ratio!.median! > limit);
  const timeouts = rows.filter((row) => row.outcome.status === 'timeout');
  const errors = rows.filter((row) => row.outcome.status === 'error');
  const skipped = rows.filter((row) => row.outcome.status === 'skipped');
  const name = (row: ResultRow) => `${row.config.workload} ${row.config.extension}${row.config.compiled === true ? ' compiled' : ''}`;
  const lines = [
    `target median <= ${formatRatio(limit)} the reference: ${compared.length - over.length} of ${compared.length} compared configurations hold` +
      (over.length === 0 ? '' : `; over: ${over.map((row) => `${name(row)} ${formatRatio(row.ratio!.median)}`).join(', ')}`),
  ];
  if (backend !== 'cpu') {
    const stretch = compared.filter((row) => row.ratio!.median! <= 0.5).length;
    lines.push(`stretch median <= 0.50x: ${stretch} of ${compared.length}`);
  }
  if (timeouts.length > 0) {
    lines.push(`timed out (no figure, counted as not holding where the reference has one): ${timeouts.map(name).join(', ')}`);
  }
  if (errors.length > 0) lines.push(`errors: ${errors.map((row) => `${name(row)} (${row.outcome.status === 'error' ? row.outcome.message : ''})`).join('; ')}`);
  if (skipped.length > 0) {
    lines.push(`not run: ${skipped.map((row) => `${name(row)} (${row.outcome.status === 'skipped' ? row.outcome.reason : ''})`).join('; ')}`);
  }
  const kfra = rows.find((row) => row.config.workload === 'cnn' && row.config.extension === 'KFRA');
  if (kfra !== undefined) {
    lines.push(
      kfra.outcome.status === 'ok'
        ? `cnn KFRA finishes: ${(kfra.outcome.medianMs / 1000).toFixed(1)} s per step (the reference: more than 10 minutes)`
        : `cnn KFRA did not finish: ${kfra.outcome.status}`,
    );
  }
  const drifted = compared.filter((row) => (row.reference?.drift ?? 1) > DRIFT_LIMIT);
  if (drifted.length > 0) {
    lines.push(
      `doubtful ratios, the reference's runs before and after ours differ by more than ${formatRatio(DRIFT_LIMIT)}: ` +
        drifted.map((row) => `${name(row)} ${formatRatio(row.reference!.drift)}`).join(', '),
    );
  }
  const memory = rows.filter((row) => row.ratio?.peakRss !== undefined);
  const overMemory = memory.filter((row) => row.ratio!.peakRss! > 1);
  lines.push(
    memory.length === 0
      ? 'peak RSS <= the reference\'s: nothing to compare (no reference memory figures for these rows)'
      : `peak RSS <= the reference's (whole process on both sides): ${memory.length - overMemory.length} of ${memory.length} hold` +
          (overMemory.length === 0 ? '' : `; over: ${overMemory.map((row) => `${name(row)} ${formatRatio(row.ratio!.peakRss)}`).join(', ')}`),
  );
  return lines;
}

/** Lines saying whether time(1024)/time(512) <= 2.2 holds, for one backend, thread count and workload. */
export function scalingTargetLines(rows: readonly ResultRow[]): string[] {
  const ratios = EXTENSION_NAMES.map((extension) => ({ extension, ratio: scalingRatio(rows, extension) })).filter(
    (entry) => rows.some((row) => row.config.extension === entry.extension),
  );
  const measured = ratios.filter((entry) => entry.ratio !== undefined);
  const over = measured.filter((entry) => entry.ratio! > 2.2);
  const missing = ratios.filter((entry) => entry.ratio === undefined).map((entry) => entry.extension);
  const lines = [
    `target t(1024)/t(512) <= 2.2: ${measured.length - over.length} of ${measured.length} hold` +
      (over.length === 0 ? '' : `; over: ${over.map((entry) => `${entry.extension} ${entry.ratio!.toFixed(2)}`).join(', ')}`),
  ];
  if (missing.length > 0) lines.push(`no ratio (N=512 or N=1024 did not finish): ${missing.join(', ')}`);
  return lines;
}
