import { describe, expect, it } from 'vitest';
import { agree } from '../shared/report.js';

describe("examples: agree, the tolerance of the examples' own checks", () => {
  it('accepts differences within 1e-10 (float64) or 1e-4 (float32) of max(1, |expected|), and nothing more', () => {
    expect(agree([1 + 0.9e-10, 200 + 1.9e-8], [1, 200], 'float64')).toBe(true);
    expect(agree([1 + 1.1e-10, 200], [1, 200], 'float64')).toBe(false);
    expect(agree([200 + 2.1e-8], [200], 'float64')).toBe(false);
    expect(agree([0.5 + 0.9e-4], [0.5], 'float32')).toBe(true);
    expect(agree([0.5 + 1.1e-4], [0.5], 'float32')).toBe(false);
    expect(agree([Number.NaN], [0], 'float32')).toBe(false);
    expect(agree([1, 2], [1], 'float64')).toBe(false);
  });
});
