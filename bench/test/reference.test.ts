import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  combineRuns,
  describeReference,
  entryFromJson,
  formatSpan,
  liveReference,
  loadReference,
  parseReferenceRun,
  ratiosAgainst,
  referenceFileDate,
  referenceKey,
  type ReferenceRun,
} from '../src/reference.js';

describe('entryFromJson', () => {
  it('reads the figures of one configuration of the reference JSON', () => {
    expect(entryFromJson({ median_ms: 2.778, min_ms: 1.981, runs: 3, peak_rss_mib: 294.9 })).toEqual({
      medianMs: 2.778,
      minMs: 1.981,
      peakRssMiB: 294.9,
    });
  });

  it('keeps the reason of a skipped configuration and drops fields of the wrong type', () => {
    expect(entryFromJson({ skipped: 'too slow', median_ms: 'fast', peak_rss_mib: null })).toEqual({ skipped: 'too slow' });
  });
});

describe('ratiosAgainst', () => {
  it('divides ours by the reference for median, minimum and peak RSS', () => {
    const ratios = ratiosAgainst({ medianMs: 6, minMs: 5, peakRssMiB: 150 }, { medianMs: 4, minMs: 2, peakRssMiB: 300 });
    expect(ratios).toEqual({ median: 1.5, min: 2.5, peakRss: 0.5 });
  });

  it('has no ratio where the reference has no figure', () => {
    expect(ratiosAgainst({ medianMs: 6, minMs: 5, peakRssMiB: 150 }, { medianMs: 3 })).toEqual({ median: 2 });
    expect(ratiosAgainst({ medianMs: 6, minMs: 5, peakRssMiB: 150 }, { skipped: 'too slow' })).toEqual({});
  });
});

describe('referenceFileDate', () => {
  it('takes the date field, else the "measured YYYY-MM-DD" of the description', () => {
    expect(referenceFileDate({ date: '2026-11-30', what: 'measured 2026-12-07' })).toBe('2026-11-30');
    expect(referenceFileDate({ what: 'BackPACK 1.6.0 on a 2-core machine, measured 2026-12-07. Per configuration: ...' })).toBe('2026-12-07');
    expect(referenceFileDate({ what: 'no date here' })).toBeUndefined();
  });
});

describe('loadReference', () => {
  it('reads entries per thread count, workload and configuration, and the date', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-reference-'));
    const path = join(dir, 'reference.json');
    writeFileSync(
      path,
      JSON.stringify({
        what: 'measured 2026-12-07',
        threads_2: { cnn: { KFRA: { skipped: 'too slow' }, HVP: { median_ms: 99.2, min_ms: 67.3, runs: 2, peak_rss_mib: 417.3 } } },
      }),
    );
    const { reference, problem } = loadReference(path);
    rmSync(dir, { recursive: true });
    expect(problem).toBeUndefined();
    expect(reference?.info).toEqual({ kind: 'file', path, date: '2026-12-07' });
    expect(reference?.entry(2, 'cnn', 'HVP')).toEqual({ medianMs: 99.2, minMs: 67.3, peakRssMiB: 417.3 });
    expect(reference?.entry(2, 'cnn', 'KFRA')).toEqual({ skipped: 'too slow' });
    expect(reference?.entry(1, 'cnn', 'HVP')).toBeUndefined();
  });

  it('says why there is no reference when the file is missing', () => {
    expect(loadReference('/nonexistent/reference.json').problem).toContain('no reference timings at /nonexistent/reference.json');
  });
});

describe('parseReferenceRun', () => {
  it('reads the last line bench_ref.py --one prints', () => {
    expect(parseReferenceRun('some warning\n{"median_ms": 0.864, "min_ms": 0.769, "peak_rss_mib": 251.0}\n')).toEqual({
      status: 'ok',
      medianMs: 0.864,
      minMs: 0.769,
      peakRssMiB: 251,
    });
  });

  it('is an error when the line is not JSON or lacks a figure', () => {
    expect(parseReferenceRun('Traceback ...')).toEqual({ status: 'error', message: "not JSON: 'Traceback ...'" });
    expect(parseReferenceRun('{"median_ms": 1, "min_ms": 1}').status).toBe('error');
  });
});

describe('combineRuns', () => {
  const ok = (medianMs: number, minMs: number, peakRssMiB: number): ReferenceRun => ({ status: 'ok', medianMs, minMs, peakRssMiB });

  it('takes the smallest of each figure and the slowest over the fastest median as drift', () => {
    const before = ok(4, 3.5, 300);
    const after = ok(6, 3, 310);
    expect(combineRuns([before, after])).toEqual({ medianMs: 4, minMs: 3, peakRssMiB: 300, drift: 1.5, runs: [before, after] });
  });

  it('uses the run that succeeded, without drift, when the other failed', () => {
    const failed: ReferenceRun = { status: 'error', message: 'stopped after 600 s' };
    const after = ok(2, 1.5, 250);
    expect(combineRuns([failed, after])).toEqual({ medianMs: 2, minMs: 1.5, peakRssMiB: 250, runs: [failed, after] });
  });

  it('is an error entry when every run failed', () => {
    const failed: ReferenceRun = { status: 'error', message: 'KeyError' };
    expect(combineRuns([failed, failed])).toEqual({ error: 'KeyError', runs: [failed, failed] });
  });
});

describe('liveReference', () => {
  it('combines the passes per configuration and keeps the skipped ones with their reason', () => {
    const pass = (startedAt: string, medianMs: number) => ({
      startedAt,
      finishedAt: startedAt,
      runs: new Map<string, ReferenceRun>([[referenceKey(1, 'seed', 'BatchGrad'), { status: 'ok', medianMs, minMs: 2, peakRssMiB: 295 }]]),
    });
    const reference = liveReference('BackPACK', [pass('2026-12-07T20:00:00.000Z', 3), pass('2026-12-07T20:05:00.000Z', 7.5)], new Map([[referenceKey(1, 'cnn', 'KFRA'), 'too slow']]));
    expect(reference.entry(1, 'seed', 'BatchGrad')).toMatchObject({ medianMs: 3, minMs: 2, peakRssMiB: 295, drift: 2.5 });
    expect(reference.entry(1, 'cnn', 'KFRA')).toEqual({ skipped: 'too slow' });
    expect(reference.entry(2, 'seed', 'BatchGrad')).toBeUndefined();
    expect(reference.info).toEqual({
      kind: 'live',
      system: 'BackPACK',
      passes: [
        { startedAt: '2026-12-07T20:00:00.000Z', finishedAt: '2026-12-07T20:00:00.000Z' },
        { startedAt: '2026-12-07T20:05:00.000Z', finishedAt: '2026-12-07T20:05:00.000Z' },
      ],
    });
  });
});

describe('describeReference', () => {
  it('names the static file with its date', () => {
    expect(describeReference({ kind: 'file', path: '/r.json', date: '2026-12-07' })).toBe('static file /r.json (measured 2026-12-07)');
  });

  it('names a live reference with the times of both passes', () => {
    const text = describeReference({
      kind: 'live',
      system: 'BackPACK 1.6.0 + PyTorch 1.13.0a0 CPU',
      passes: [
        { startedAt: '2026-12-07T20:31:05.120Z', finishedAt: '2026-12-07T20:31:40.900Z' },
        { startedAt: '2026-12-07T20:35:00.000Z', finishedAt: '2026-12-07T20:35:30.000Z' },
      ],
    });
    expect(text).toBe(
      'live, BackPACK 1.6.0 + PyTorch 1.13.0a0 CPU, measured in the same run as ours: before ours 2026-12-07 20:31:05-20:31:40 UTC, ' +
        'after ours 2026-12-07 20:35:00-20:35:30 UTC; each figure the smallest over the passes, drift flagged above 1.5x',
    );
  });
});

describe('formatSpan', () => {
  it('writes both days when a pass crosses midnight', () => {
    expect(formatSpan({ startedAt: '2026-12-07T23:59:00.000Z', finishedAt: '2026-12-08T00:01:00.000Z' })).toBe(
      '2026-12-07 23:59:00 - 2026-12-08 00:01:00 UTC',
    );
  });
});
