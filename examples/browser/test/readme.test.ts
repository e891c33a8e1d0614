/** The README's example (the page's training in Node) prints what the README shows. */
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example prints what the README shows', async () => {
  const readme = join(packageDir, 'README.md');
  const example = markdownCodeBlocks(readme).find((code) => code.includes('DpSgdTrainer'));
  const [printed] = markdownCodeBlocks(readme, 'text');
  expect(example, 'README.md has a ```ts block with DpSgdTrainer').toBeDefined();
  expect(printed, 'README.md shows what the example prints in a ```text block').toBeDefined();
  // Inside the package, so that '@backpack-ts/browser-demo/train' resolves to it.
  const calls = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  expect(calls.map((args) => args.map(String).join(' '))).toEqual(printed!.trim().split('\n'));
});
