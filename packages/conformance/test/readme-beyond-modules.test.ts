/**
 * The root README's "Beyond modules" examples run as written: a residual
 * network with ops between modules gets `.grad`, BatchGrad and DiagGGNExact
 * without extend(); the gradient of the total variance (Variance with
 * createGraph) and a Hessian-vector product come out with the parameters'
 * shapes. Their numbers are checked against finite differences in core's
 * double-backward and functional-forms tests.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { markdownCodeBlocks, runModuleCapturingLogs } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const blocks = markdownCodeBlocks(join(here, '..', '..', '..', 'README.md'));
const block = (marker: string) => {
  const found = blocks.filter((code) => code.includes(marker));
  expect(found, marker).toHaveLength(1);
  return found[0]!;
};
const lines = (calls: unknown[][]) => calls.map((args) => args.map((a) => JSON.stringify(a)).join(' '));

it('a residual network with ops between modules: every parameter gets .grad, per-sample gradients and its GGN diagonal', async () => {
  const calls = await runModuleCapturingLogs(block('class Residual extends Module'), here);
  expect(lines(calls)).toEqual([
    '"inner.weight" [4,4] [8,4,4] [4,4]',
    '"inner.bias" [4] [8,4] [4]',
    '"head.weight" [3,4] [8,3,4] [3,4]',
    '"head.bias" [3] [8,3] [3]',
  ]);
});

it('the gradient of the total variance and a Hessian-vector product, by double backward', async () => {
  const calls = await runModuleCapturingLogs(block('createGraph: true'), here);
  expect(calls).toHaveLength(2);
  const [label, total, shapesLabel, shapes] = calls[0]!;
  expect([label, shapesLabel, shapes]).toEqual(['total variance', 'gradient shapes', [[8, 4], [8], [3, 8], [3]]]);
  expect(Number.isFinite(total) && (total as number) > 0).toBe(true);
  expect(calls[1]).toEqual(['Hv shapes', [[8, 4], [8], [3, 8], [3]]]);
});
