/**
 * Progress of a run on stderr: a bar redrawn in place when stderr is a
 * terminal, one plain line per finished configuration otherwise (CI logs).
 */
import type { Config, Outcome } from './measure.js';

export interface Progress {
  /** A configuration started. */
  start(config: Config): void;
  /** A step of the current configuration ended. */
  step(config: Config, done: number, total: number, lastMs?: number): void;
  /** A configuration ended. */
  finish(config: Config, outcome: Outcome, summary: string): void;
  /** Clears the bar. */
  close(): void;
}

const BAR_WIDTH = 24;

export function createProgress(total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true;
  const began = Date.now();
  let finished = 0;
  let line = '';

  const label = (config: Config) =>
    `${config.backend}/t${config.threads} ${config.workload} N=${config.batchSize} ${config.extension}${config.compiled === true ? ' compiled' : ''}`;
  const draw = (text: string) => {
    if (!tty) return;
    const width = Math.max(40, (stream.columns || 120) - 1);
    line = text.length > width ? text.slice(0, width - 1) + '…' : text;
    stream.write(`\r\x1b[2K${line}`);
  };
  const bar = (fraction: number) => {
    const filled = Math.round(Math.min(1, fraction) * BAR_WIDTH);
    return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  };

  return {
    start(config) {
      draw(`${bar(finished / total)} ${finished}/${total} ${elapsed(began)}  ${label(config)}: set-up`);
    },
    step(config, done, stepsTotal, lastMs) {
      const last = lastMs === undefined ? '' : ` (last ${formatMs(lastMs)})`;
      draw(`${bar((finished + done / stepsTotal) / total)} ${finished}/${total} ${elapsed(began)}  ${label(config)}: step ${done}/${stepsTotal}${last}`);
    },
    finish(config, _outcome, summary) {
      finished++;
      const text = `[${finished}/${total}] ${label(config)}: ${summary}`;
      if (tty) {
        stream.write(`\r\x1b[2K${text}\n`);
        if (line !== '') draw(`${bar(finished / total)} ${finished}/${total} ${elapsed(began)}`);
      } else {
        stream.write(`${text}\n`);
      }
    },
    close() {
      if (tty && line !== '') stream.write('\r\x1b[2K');
      line = '';
    },
  };
}

function elapsed(since: number): string {
  const seconds = Math.round((Date.now() - since) / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

/** `0.84 ms`, `12.3 ms`, `1,234 ms`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toLocaleString('en-US')} ms`;
}
