import { describe, expect, it } from 'vitest';
import { examples, listing, runExample } from '../registry.js';

/** BackPACK's 15 use cases, as `pnpm example` names them. */
const USE_CASES = [
  'all-in-one',
  'batched-jacobians',
  'cg-newton',
  'custom-module',
  'diag-ggn-optimizer',
  'differential-privacy',
  'extension-hook',
  'first-order-resnet',
  'gradient-of-variance',
  'resnet-all-in-one',
  'retain-graph',
  'rnn',
  'save-memory-convolutions',
  'subsampling',
  'trace-estimation',
];

describe('pnpm example', () => {
  it('lists the seed and cnn examples and the 15 use cases, one line each', async () => {
    expect(examples.map((e) => e.name)).toEqual(['seed', 'cnn', ...USE_CASES]);
    const lines: string[] = [];
    await runExample([], (line) => lines.push(line));
    expect(lines).toEqual(listing());
    expect(lines[0]).toMatch(/^usage: pnpm example <name>/);
    expect(lines.slice(2)).toHaveLength(17);
    expect(lines).toContain('  cnn                       every extension on a small MNIST CNN: the shape of each quantity');
  });

  it('names the BackPACK example each use case ports, and loads a main for each', async () => {
    for (const entry of examples.filter((e) => USE_CASES.includes(e.name))) {
      expect(entry.reference, entry.name).toMatch(/^(use_cases|basic_usage)\/example_[a-z_]+\.py$/);
      expect(entry.reference!.replace(/^.*example_/, '').replace('.py', '').replaceAll('_', '-'), entry.name).toBe(entry.name);
    }
    for (const entry of examples) expect(typeof (await entry.load()).main, entry.name).toBe('function');
  });

  it('runs the example it is given with the remaining arguments', async () => {
    const lines: string[] = [];
    await runExample(['--', 'subsampling', '--backend', 'cpu', '--batch-size', '20'], (line) => lines.push(line));
    expect(lines.slice(0, 2)).toEqual(['backend: cpu, batch size: 20', 'selected samples: 0, 1, 13']);
  });

  it('refuses an unknown name, listing the available ones', async () => {
    await expect(runExample(['dp-sgd'])).rejects.toThrow("unknown example 'dp-sgd' (available: seed, cnn, all-in-one, batched-jacobians, cg-newton,");
  });
});
