/** The README's example is this package's test/readme-example.ts, verbatim, and it runs with the printed output. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';

const read = (relative: string) => readFileSync(fileURLToPath(new URL(relative, import.meta.url)), 'utf8');

it('the README example is test/readme-example.ts and prints what the README says', async () => {
  const readme = read('../README.md');
  const block = /## Example\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  expect(block).toBe(read('./readme-example.ts'));

  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  });
  try {
    await import('./readme-example.js');
  } finally {
    log.mockRestore();
  }
  const promised = block!.split('\n').filter((line) => line.startsWith('// ')).map((line) => line.slice(3));
  expect(lines.slice(0, promised.length)).toEqual(promised);
});
