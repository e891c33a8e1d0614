/**
 * The README's first example runs as written, so it cannot drift from the API.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example runs: per-sample gradients on ORT, live handles flat', async () => {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toBeDefined();
  // Inside the package, so that '@backpack-ts/backend-onnxruntime' resolves to this package.
  const dir = mkdtempSync(join(packageDir, 'test', '.readme-'));
  const file = join(dir, 'example.ts');
  writeFileSync(file, example!);
  const lines: unknown[][] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args);
  });
  try {
    await import(file);
  } finally {
    log.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
  expect(lines[0]).toEqual([[256, 50, 100]]);
  expect(lines[1]![1]).toBe('live handles');
  expect(lines[2]![0]).toMatchObject({ 'matmul:ort': expect.any(Number) });
});
