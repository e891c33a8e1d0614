/**
 * The example in packages/core/README.md runs as written (it imports core,
 * backend-cpu and first-order, all dependencies of this package).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { markdownCodeBlocks, runModuleCapturingLogs } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));

it("core's README example runs and prints each parameter's gradient and per-sample gradients", async () => {
  const example = markdownCodeBlocks(join(here, '..', '..', 'core', 'README.md'))[0];
  expect(example).toBeDefined();
  const calls = await runModuleCapturingLogs(example!, here);
  expect(calls.map((args) => args.map((a) => JSON.stringify(a)).join(' '))).toEqual([
    '"0.weight" [8,4] [5,8,4]',
    '"0.bias" [8] [5,8]',
    '"2.weight" [3,8] [5,3,8]',
    '"2.bias" [3] [5,3]',
  ]);
});
