/**
 * The repository's seed example runs on this backend (`--backend tfjs`) and
 * says which engine runs. It is run as its users run it, in a child process
 * (the examples package is not a dependency of this one).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

it.skipIf(!existsSync(`${examples}seed/main.ts`))('pnpm example --backend tfjs prints the engine and every quantity', () => {
  const output = execFileSync(process.execPath, ['--import', 'tsx', 'seed/main.ts', '--backend', 'tfjs'], {
    cwd: examples,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = output.split('\n');
  expect(lines[0]).toMatch(/^backend: tfjs \((tensorflow|wasm)\)$/);
  expect(lines).toContain('.grad_batch.shape:        [512, 10, 784]');
  expect(lines).toContain('.kfac (shapes):           [[10, 10], [784, 784]]');
  expect(lines).toContain('.diag_h.shape:            [10, 784]');
});
