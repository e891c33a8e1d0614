/**
 * The README's examples run as written, so they cannot drift from the API.
 */
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example runs: per-sample gradients on ORT, live handles flat', async () => {
  const example = markdownCodeBlocks(join(packageDir, 'README.md'))[0];
  expect(example).toBeDefined();
  // Inside the package, so that '@backpack-ts/backend-onnxruntime' resolves to this package.
  const lines = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  expect(lines[0]).toEqual([[256, 50, 100]]);
  expect(lines[1]![1]).toBe('live handles');
  expect(lines[2]![0]).toMatchObject({ 'matmul:ort': expect.any(Number) });
});

it('the README example of a compiled step runs: traced once, then replayed', async () => {
  const example = markdownCodeBlocks(join(packageDir, 'README.md')).find((block) => block.includes('compileStep('));
  expect(example).toBeDefined();
  const lines = await runModuleCapturingLogs(example!, join(packageDir, 'test'));
  expect(lines.map((line) => line[1])).toEqual([expect.stringMatching(/traced/), 'replayed', 'replayed', undefined]);
  expect(lines[3]![0]).toEqual({ replayed: 2, eager: 1, compiled: 1 });
});
