/**
 * The README's algorithms example (the code block of its "Algorithms"
 * section) runs as written, and what it prints is checked against values
 * computed here from the same seed: the exact trace in plain JavaScript, the
 * estimates within 4 standard errors, the Lanczos eigenvalues against eigh,
 * and the CG residual against the tolerance.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { runModuleCapturingLogs } from '@backpack-ts/conformance';
import { Generator } from '@backpack-ts/core';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

function exampleBlock(): string {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const section = readme.split('\n## ').find((s) => s.startsWith('Algorithms (trace, diagonal, eigenvalues, spectral density, CG)'));
  const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md: no ts block in the Algorithms section');
  return block;
}

it('the README algorithms example runs and prints estimates consistent with the exact values', async () => {
  const calls = await runModuleCapturingLogs(exampleBlock(), join(packageDir, 'test'));
  const byLabel = new Map(calls.map((args) => [String(args[0]), args.slice(1)]));

  // ‖G‖_F² with G's first three columns scaled by 20.
  const g = Array.from(new Generator(0).normal([200, 50], { backend: cpu }).toArray());
  const exact = g.reduce((s, x, i) => s + (i % 50 < 3 ? 400 : 1) * x * x, 0);
  expect(byLabel.get('exact trace')![0]).toBeCloseTo(exact, 9);
  for (const label of ['Hutchinson', 'Hutch++']) {
    const [estimate, , standardError] = byLabel.get(label) as [number, string, number];
    expect(Math.abs(estimate - exact)).toBeLessThan(4 * standardError);
  }
  expect(byLabel.get('diagonal')).toEqual([[50], [50]]);

  const [eigenvalues] = byLabel.get('two largest eigenvalues') as [number[]];
  const [exactTop] = byLabel.get('eigh') as [number[]];
  eigenvalues.forEach((x, i) => expect(Math.abs(x - exactTop[i]!)).toBeLessThan(1e-8 * exactTop[1]!));

  const [density] = byLabel.get('spectral density at 100, 200, 300') as [number[]];
  expect(density).toHaveLength(3);
  density.forEach((x) => expect(x).toBeGreaterThanOrEqual(0));

  const b = Array.from(new Generator(5).normal([50], { backend: cpu }).toArray());
  const [converged, , , residual] = byLabel.get('CG') as [boolean, number, string, number];
  expect(converged).toBe(true);
  expect(residual).toBeLessThanOrEqual(1e-10 * Math.hypot(...b));
});
