/**
 * The README's example runs as written and prints what the README says it
 * prints, so neither can drift from the API.
 */
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example prints what the README shows', async () => {
  const readme = join(packageDir, 'README.md');
  const [example] = markdownCodeBlocks(readme);
  const [printed] = markdownCodeBlocks(readme, 'text');
  expect(printed, 'README.md shows what the example prints in a ```text block').toBeDefined();
  expect(example).toContain('loadMnistBatch');
  // Inside the package, so that '@backpack-ts/mnist' resolves to this package.
  const calls = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  const lines = calls.map((args) => args.map(String).join(' '));
  expect(lines).toEqual(printed!.trim().split('\n'));
});
