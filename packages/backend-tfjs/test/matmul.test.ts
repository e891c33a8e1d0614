/**
 * The matmul strategies of `matmul.ts` (explicit transposes, a one-sided
 * batch folded into one 2-D product, k = 1 as a broadcasting multiply, large
 * real batches unrolled) against backend-cpu's float64 product, for every
 * transpose combination.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { Generator, sizeOf } from '@backpack-ts/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsBackend, type TfjsBackend } from '../src/index.js';

let backend: TfjsBackend;
beforeAll(async () => {
  backend = await loadTfjsBackend();
});

const generator = new Generator(3);
const normals = (n: number) => Float32Array.from({ length: n }, () => generator.nextNormal());

/** `[batchA, m, k] @ [batchB, k, n]`, stored transposed where asked. */
const cases: [string, number, number, number, number, number][] = [
  ['2-D', 1, 1, 7, 5, 3],
  ['k = 1 (outer products)', 4, 4, 6, 1, 5],
  ['k = 1, broadcast a', 1, 3, 6, 1, 5],
  ['b broadcast: rows folded', 5, 1, 4, 6, 3],
  ['a broadcast: columns folded', 1, 5, 4, 6, 3],
  ['a broadcast, n = 1', 1, 5, 4, 6, 1],
  ['a broadcast, m = 1', 1, 5, 1, 6, 3],
  ['real batch, small', 6, 6, 3, 4, 5],
  ['real batch, unrolled', 2, 2, 128, 128, 128],
];

describe('matmul strategies match backend-cpu', () => {
  for (const [label, batchA, batchB, m, k, n] of cases) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${label}: [${batchA}, ${m}, ${k}] @ [${batchB}, ${k}, ${n}], transA ${transA}, transB ${transB}`, () => {
          const aShape = transA ? [batchA, k, m] : [batchA, m, k];
          const bShape = transB ? [batchB, n, k] : [batchB, k, n];
          const a = normals(sizeOf(aShape));
          const b = normals(sizeOf(bShape));
          const expected = cpu.read(
            cpu.matmul(cpu.fromData(a, aShape, 'float64'), aShape, cpu.fromData(b, bShape, 'float64'), bShape, transA, transB, 'float64'),
            [],
            'float64',
          );
          const ha = backend.fromData(a, aShape, 'float32');
          const hb = backend.fromData(b, bShape, 'float32');
          const out = backend.matmul(ha, aShape, hb, bShape, transA, transB, 'float32');
          const actual = backend.read(out, [], 'float32');
          expect(actual.length).toBe(expected.length);
          let worst = 0;
          let scale = 1e-30;
          for (let i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
            scale = Math.max(scale, Math.abs(expected[i]!));
          }
          expect(worst / scale).toBeLessThan(1e-5);
          for (const h of [ha, hb, out]) backend.dispose(h);
        });
      }
    }
  }
});
