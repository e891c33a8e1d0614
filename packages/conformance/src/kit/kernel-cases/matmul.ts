/**
 * The matmul kernel cases: batched and broadcast products, transposed and
 * sliced operands, large and tiny scales.
 */
import { formatShape, sizeOf } from '@backpack-ts/core';
import { describeViews, input, type InputView, type KernelCase } from '../kernel-check.js';
import { Draw, SLICED } from './inputs.js';

interface MatmulSpec {
  readonly batchA: number;
  readonly batchB: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

function matmulCase(draw: Draw, s: MatmulSpec, options: { scaleA?: number; scaleB?: number; viewA?: InputView; viewB?: InputView; label?: string } = {}): KernelCase {
  const aShape = s.transA ? [s.batchA, s.k, s.m] : [s.batchA, s.m, s.k];
  const bShape = s.transB ? [s.batchB, s.n, s.k] : [s.batchB, s.k, s.n];
  const outShape = [s.batchA === 1 ? s.batchB : s.batchA, s.m, s.n];
  const a = input(aShape, draw.normal(sizeOf(aShape), options.scaleA ?? 1), options.viewA);
  const b = input(bShape, draw.normal(sizeOf(bShape), options.scaleB ?? 1), options.viewB);
  const t = `${s.transA ? 'ᵀ' : ''}`;
  const u = `${s.transB ? 'ᵀ' : ''}`;
  return {
    family: 'matmul',
    name: `matmul ${formatShape(aShape)}${t} @ ${formatShape(bShape)}${u}${options.label ?? ''}${describeViews([a, b])}`,
    inputs: [a, b],
    run: (backend, [x, y], dtype) => ({
      handle: backend.matmul(x, aShape, y, bShape, s.transA, s.transB, dtype),
      shape: outShape,
      dtype,
    }),
  };
}

export function matmulCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  const spec = (batchA: number, batchB: number, m: number, k: number, n: number, transA = false, transB = false): MatmulSpec => ({
    batchA,
    batchB,
    m,
    k,
    n,
    transA,
    transB,
  });
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      cases.push(matmulCase(draw, spec(1, 1, 3, 4, 5, transA, transB)));
      cases.push(matmulCase(draw, spec(3, 1, 2, 3, 4, transA, transB)));
      cases.push(matmulCase(draw, spec(1, 3, 2, 3, 4, transA, transB)));
      cases.push(matmulCase(draw, spec(3, 3, 2, 3, 4, transA, transB)));
      cases.push(matmulCase(draw, spec(1, 1, 64, 64, 64, transA, transB)));
      cases.push(matmulCase(draw, spec(4, 1, 32, 48, 40, transA, transB)));
      // Outer products (k = 1), which backends may turn into broadcast multiplications.
      cases.push(matmulCase(draw, spec(3, 1, 4, 1, 5, transA, transB)));
      cases.push(matmulCase(draw, spec(16, 16, 20, 1, 30, transA, transB)));
    }
  }
  cases.push(matmulCase(draw, spec(1, 4, 32, 48, 40, true, false)));
  cases.push(matmulCase(draw, spec(3, 3, 40, 50, 30)));
  cases.push(matmulCase(draw, spec(1, 1, 4, 5, 1)));
  cases.push(matmulCase(draw, spec(1, 1, 1, 5, 3)));
  cases.push(matmulCase(draw, spec(1, 1, 1, 1, 1)));
  cases.push(matmulCase(draw, spec(1, 1, 1, 300, 1)));
  cases.push(matmulCase(draw, spec(1, 1, 6, 7, 5), { viewA: { kind: 'permuted', perm: [0, 2, 1] }, viewB: SLICED }));
  cases.push(matmulCase(draw, spec(2, 2, 40, 30, 50, false, true), { viewA: SLICED, viewB: { kind: 'permuted', perm: [0, 2, 1] } }));
  for (const [label, scaleA, scaleB] of [[' large', 1e30, 1], [' tiny', 1e-15, 1e-15]] as const) {
    cases.push(matmulCase(draw, spec(1, 1, 3, 4, 5), { scaleA, scaleB, label }));
    cases.push(matmulCase(draw, spec(2, 1, 40, 50, 30, false, true), { scaleA, scaleB, label }));
  }
  return cases;
}
