/**
 * The repository README's "Writing a backend" walkthrough runs as written: a
 * backend delegating to backend-cpu with a naive matmul of its own passes the
 * conformance kit (kernels and golden suite) in float64.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';
import { findRepoRoot } from '../src/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the walkthrough backend passes the kit', async () => {
  const readme = readFileSync(join(findRepoRoot()!, 'README.md'), 'utf8');
  const example = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.includes('class MyBackend'));
  expect(example, 'README.md has no ```ts block with the walkthrough (class MyBackend)').toBeDefined();
  // Inside the package, so that '@backpack-ts/conformance' and its dependencies resolve.
  const dir = mkdtempSync(join(packageDir, 'test', '.walkthrough-'));
  const file = join(dir, 'walkthrough.ts');
  writeFileSync(file, example!);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  });
  try {
    await import(file);
  } finally {
    log.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
  expect(lines.join('\n')).toMatch(/^backpack-ts conformance: backend 'mine', float64, tolerance 1e-10: \d+ passed, 0 failed/);
  expect(lines.join('\n')).toMatch(/ok {3}kernels\/matmul/);
}, 120_000);
