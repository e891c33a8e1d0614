import { describe, expect, it } from 'vitest';
import { assertReports, compareArrays, compareNumbers, worstRelError } from '../src/index.js';

describe('compareArrays', () => {
  it('measures the error relative to the largest expected entry', () => {
    const report = compareArrays(
      { shape: [2, 2], data: [1, 2, 3, 4.001] },
      { shape: [2, 2], data: [1, 2, 3, 4] },
      { tolerance: 1e-3, label: 'x' },
    );
    expect(report.ok).toBe(true);
    expect(report.relError).toBeCloseTo(0.001 / 4, 12);
    expect(report.scale).toBe(4);
    expect(report.worst).toEqual({ index: [1, 1], actual: 4.001, expected: 4 });
    expect(report.message).toMatch(/^x: ok rel 2\.50e-4/);
  });

  it('fails beyond the tolerance and names the worst entry', () => {
    const report = compareArrays({ shape: [3], data: [1, 2, 3.5] }, { shape: [3], data: [1, 2, 3] }, { tolerance: 1e-10, label: 'y' });
    expect(report.ok).toBe(false);
    expect(report.message).toContain('FAIL');
    expect(report.message).toContain('worst at [2]: 3.5 vs expected 3');
  });

  it('fails on a shape mismatch, a NaN, and reports all-zero expectations exactly', () => {
    expect(compareArrays({ shape: [2], data: [1, 2] }, { shape: [1, 2], data: [1, 2] }, { tolerance: 1 }).problem).toBe(
      'shape [2] != expected [1, 2]',
    );
    const nan = compareArrays({ shape: [2], data: [1, Number.NaN] }, { shape: [2], data: [1, 2] }, { tolerance: 1 });
    expect(nan.ok).toBe(false);
    expect(nan.worst?.index).toEqual([1]);
    expect(compareArrays({ shape: [2], data: [0, 0] }, { shape: [2], data: [0, 0] }, { tolerance: 0 }).ok).toBe(true);
    expect(compareArrays({ shape: [1], data: [1e-20] }, { shape: [1], data: [0] }, { tolerance: 1e-10 }).ok).toBe(false);
  });

  it('collects failures into one error', () => {
    const good = compareNumbers(1, 1, { tolerance: 0, label: 'good' });
    const bad = compareNumbers(2, 1, { tolerance: 0, label: 'bad' });
    expect(() => assertReports([good, bad])).toThrow(/1 of 2 comparisons failed:\nbad: FAIL/);
    expect(worstRelError([good, bad])).toBe(1);
  });
});
