import { describe, expect, it } from 'vitest';
import { entryFromJson, ratiosAgainst } from '../src/reference.js';

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
