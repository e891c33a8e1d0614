/**
 * The README's example (its first ```ts block) runs as written and prints what
 * it promises in its `// ` comments; every printed loss curve starts at the
 * same loss, and each optimiser ends lower than it started (KFLR lowest).
 */
import { markdownCodeBlocks, runModuleCapturingLogs } from '@backpack-ts/conformance';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

it('the README example runs and prints what it says', async () => {
  const example = markdownCodeBlocks(join(packageDir, 'README.md'))[0]!;
  // Inside the package, so that '@backpack-ts/optim' resolves to this package.
  const calls = await runModuleCapturingLogs(example, join(packageDir, 'test'));
  const printed = calls.map((args) => args.map(String).join(' '));
  const promised = example.split('\n').filter((line) => line.startsWith('// ')).map((line) => line.slice(3));
  expect(printed).toEqual(promised);

  const curves = new Map(printed.map((line) => [line.split(/\s+/)[0]!, line.split(/\s+/).slice(1).map(Number)]));
  expect([...curves.keys()]).toEqual(['SGD', 'Adam', 'DiagGGN', 'KFLR']);
  const finals = [...curves.values()].map((losses) => losses.at(-1)!);
  for (const losses of curves.values()) {
    expect(losses).toHaveLength(10);
    expect(losses[0]).toBe(curves.get('SGD')![0]);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
  }
  expect(Math.min(...finals)).toBe(curves.get('KFLR')!.at(-1));
});
