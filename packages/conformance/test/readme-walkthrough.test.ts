/**
 * The repository README's "Writing a backend" walkthrough runs as written: a
 * backend of its own handles on CpuFallbackBackend with a naive matmul of its
 * own passes the conformance kit (every kernel family and the golden suite)
 * in float64.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { findRepoRoot, markdownCodeBlocks, runModuleCapturingLogs } from '../src/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the walkthrough backend passes the kit', async () => {
  const example = markdownCodeBlocks(join(findRepoRoot()!, 'README.md')).find((code) => code.includes('class MyBackend'));
  expect(example, 'README.md has no ```ts block with the walkthrough (class MyBackend)').toBeDefined();
  // Inside the package, so that '@backpack-ts/conformance' and its dependencies resolve.
  const calls = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  const lines = calls.map((args) => args.map(String).join(' '));
  expect(lines.join('\n')).toMatch(/^backpack-ts conformance: backend 'mine', float64, tolerance 1e-10: \d+ passed, 0 failed/);
  expect(lines.join('\n')).toMatch(/ok {3}kernels\/matmul/);
  expect(lines.join('\n')).toMatch(/ok {3}kernels\/empty/);
}, 120_000);
