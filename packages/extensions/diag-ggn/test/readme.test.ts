/**
 * The README's example runs as written (the first ```ts block), so it
 * cannot drift from the API.
 */
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example runs and prints every quantity', async () => {
  const example = markdownCodeBlocks(join(packageDir, 'README.md'))[0];
  expect(example).toBeDefined();
  // Inside the package, so that '@backpack-ts/diag-ggn' resolves to this package.
  const calls = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  const lines = calls.map((args) => args.map(String).join(' '));
  expect(lines.filter((line) => line.includes('diagGgnMc'))).toHaveLength(4);
});
