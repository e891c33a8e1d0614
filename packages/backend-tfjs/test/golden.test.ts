/**
 * The golden suite case by case through the public API (build with
 * `buildGoldenModel`, forward, `backpack(extensions, () => loss.backward())`),
 * one test per case and extension group, float32, relative error <= 1e-4:
 * the same checks as the kit's golden part, reported per case.
 */
import {
  GOLDEN_EXTENSION_GROUPS,
  checkGoldenExtensions,
  checkGoldenForward,
  failedMessages,
  goldenTestCases,
  failUnknownTypes,
  type GoldenCheck,
} from '@backpack-ts/conformance';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsBackend, type TfjsBackend } from '../src/index.js';

let backend: TfjsBackend;
beforeAll(async () => {
  backend = await loadTfjsBackend();
});

const options = () => ({ backend, dtype: 'float32' as const, tolerance: 1e-4 });

function expectClose(check: GoldenCheck): void {
  if (check.unsupported !== undefined) throw new Error(`unexpectedly unsupported: ${check.unsupported}`);
  expect(check.reports.length).toBeGreaterThan(0);
  expect(failedMessages(check.reports)).toEqual([]);
}

const { cases, skipMessage } = goldenTestCases();
if (skipMessage !== undefined) it('golden reference cases', () => console.log(skipMessage));

for (const { golden, problem } of cases) {
  describe(`golden ${golden.name}`, () => {
    if (problem !== undefined) {
      it('builds its network', () => failUnknownTypes(problem));
      return;
    }
    it('forward: output and loss', () => {
      expectClose(checkGoldenForward(golden, options()));
    });
    // No Kronecker factors exist for recurrent layers: those extensions refuse, naming the layer.
    const recurrent = golden.case.layers.find((layer) => layer.type === 'RNN' || layer.type === 'LSTM');
    for (const [group, make] of Object.entries(GOLDEN_EXTENSION_GROUPS)) {
      if (group === 'kronecker' && recurrent !== undefined) {
        it(`${group}: refused for its ${recurrent.type} layer`, () => {
          expect(() => checkGoldenExtensions(golden, make(), options())).toThrow(`has no rule for ${recurrent.type} '0'`);
        });
        continue;
      }
      it(`${group}: ${make().map((e) => e.name).join(', ')}`, () => {
        expectClose(checkGoldenExtensions(golden, make(), options()));
      });
    }
  });
}
