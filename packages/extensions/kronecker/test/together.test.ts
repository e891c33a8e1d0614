/**
 * KFAC, KFLR and KFRA in one backward pass give exactly what each gives
 * alone (they keep separate state; KFAC with a seed draws the same samples),
 * next to the first-order quantity `.grad`.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { buildSupportedGoldenModel, listGoldenCases, loadGoldenCase, unsupportedTypes } from '@backpack-ts/conformance';
import type { Extension } from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA } from '../src/index.js';
import { hasRecurrentLayer, runExtensions } from './helpers.js';

type Field = 'kfac' | 'kflr' | 'kfra';
const make: Record<Field, () => Extension> = {
  kfac: () => new KFAC({ seed: 31, mcSamples: 4 }),
  kflr: () => new KFLR(),
  kfra: () => new KFRA(),
};

const cases = listGoldenCases()
  .map((file) => loadGoldenCase(file))
  // Recurrent layers are refused by all three (golden.test.ts).
  .filter((golden) => unsupportedTypes(golden).length === 0 && !hasRecurrentLayer(golden));

describe.each(cases.map((golden) => ({ golden, name: golden.name })))('golden network $name', ({ golden }) => {
  function run(extensions: readonly Extension[]) {
    const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
    runExtensions(built.model, built.loss, built.input, built.target, extensions);
    return built.model.namedParameters();
  }

  it('KFAC + KFLR + KFRA together equal each alone', () => {
    const together = run([make.kfac(), make.kflr(), make.kfra()]);
    const fields = Object.keys(make) as Field[];
    for (const field of fields) {
      const alone = run([make[field]()]);
      together.forEach(([name, parameter], i) => {
        const [aloneName, aloneParameter] = alone[i]!;
        expect(aloneName).toBe(name);
        const a = parameter[field]!.map((t) => t.toArray());
        const b = aloneParameter[field]!.map((t) => t.toArray());
        expect(a, `${golden.name} ${name} ${field}`).toEqual(b);
        // The other fields stay unset in a run of one extension.
        for (const other of fields.filter((f) => f !== field)) expect(aloneParameter[other]).toBeUndefined();
      });
    }
    // .grad is computed alongside, as in an ordinary backward pass.
    const plain = run([]);
    together.forEach(([, parameter], i) => expect(parameter.grad!.toArray()).toEqual(plain[i]![1].grad!.toArray()));
  });
});
