import { describe, expect, it } from 'vitest';
import { parseArgs } from '../shared/report.js';

describe("examples: an example's own integer options", () => {
  const example = { name: 'differential-privacy', batchSize: 64, integers: { steps: 60 } };

  it('takes --name N and --name=N, else the default', () => {
    expect(parseArgs(['--backend', 'cpu'], example).integers).toEqual({ steps: 60, 'batch-size': 64 });
    const parsed = parseArgs(['--steps', '3', '--backend=cpu', '--batch-size=8'], example);
    expect(parsed.integers['steps']).toBe(3);
    expect(parsed.batchSize).toBe(8);
    expect(parsed.backend.name).toBe('cpu');
    expect(parseArgs(['--backend', 'cpu', '--steps=7'], example).integers['steps']).toBe(7);
  });

  it('refuses a value that is not a positive integer, and an option the example does not have, with its usage', () => {
    expect(() => parseArgs(['--backend', 'cpu', '--steps', '2.5'], example)).toThrow(
      "--steps must be a positive integer, got '2.5'\nusage: differential-privacy [--backend cpu|onnxruntime|tfjs] [--steps N] [--batch-size N]",
    );
    expect(() => parseArgs(['--backend', 'cpu', '--steps'], example)).toThrow("--steps must be a positive integer, got ''");
    expect(() => parseArgs(['--backend', 'cpu', '--hidden', '4'], example)).toThrow("unknown argument '--hidden'");
  });
});
