/**
 * The README's example runs as written (the first ```ts block), so it
 * cannot drift from the API.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example runs and prints every quantity', async () => {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toBeDefined();
  // Inside the package, so that '@backpack-ts/diag-ggn' resolves to this package.
  const dir = mkdtempSync(join(packageDir, 'test', '.readme-'));
  const file = join(dir, 'example.ts');
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
  expect(lines.filter((line) => line.includes('diagGgnMc'))).toHaveLength(4);
});
