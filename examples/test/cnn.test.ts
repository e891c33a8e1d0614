import { describe, expect, it } from 'vitest';
import { BATCH_SIZE, main } from '../cnn/main.js';
import { parseArgs } from '../shared/report.js';

/** Parameters of the example's network and their shapes. */
const parameters: readonly [string, number[]][] = [
  ['0.weight', [2, 1, 5, 5]],
  ['0.bias', [2]],
  ['3.weight', [4, 2, 5, 5]],
  ['3.bias', [4]],
  ['7.weight', [10, 64]],
  ['7.bias', [10]],
];

const show = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const line = (label: string, value: string) => label.padEnd(Math.max(26, label.length + 1)) + value;

/** The report of one run: per parameter its name, `.grad` and each field's shape. */
function run(header: string, fields: readonly [string, (shape: number[]) => string][]): string[] {
  return [
    '',
    header,
    ...parameters.flatMap(([name, shape]) => [
      name,
      line('.grad.shape:', show(shape)),
      ...fields.map(([field, value]) => (field.endsWith(' (shapes)') ? line(`.${field}:`, value(shape)) : line(`.${field}.shape:`, value(shape)))),
    ]),
  ];
}

describe('cnn example', () => {
  it('runs every extension on a small MNIST batch and prints the shape of every quantity', () => {
    const n = 4;
    const lines: string[] = [];
    main(['--backend', 'cpu', '--batch-size', String(n)], (text) => lines.push(text));

    const same = (shape: number[]) => show(shape);
    const batch = (shape: number[]) => show([n, ...shape]);
    const perSampleNorm = () => show([n]);
    const sqrt = (v: number) => (shape: number[]) => show([v, n, ...shape]);
    /** Kronecker factors: weight [out x out, fan-in x fan-in], bias [out x out]. */
    const kronecker = (shape: number[]) => {
      const out = shape[0]!;
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      return shape.length === 1 ? `[${show([out, out])}]` : `[${show([out, out])}, ${show([fanIn, fanIn])}]`;
    };
    expect(lines).toEqual([
      `backend: cpu, batch size: ${n}`,
      ...run('Extension: BatchGrad', [['grad_batch', batch]]),
      ...run('Extension: Variance', [['variance', same]]),
      ...run('Extension: SumGradSquared', [['sum_grad_squared', same]]),
      ...run('Extension: BatchL2Grad', [['batch_l2', perSampleNorm]]),
      ...run('Extensions: BatchGrad, Variance, SumGradSquared, BatchL2Grad', [
        ['grad_batch', batch],
        ['variance', same],
        ['sum_grad_squared', same],
        ['batch_l2', perSampleNorm],
      ]),
      ...run('Extensions: DiagGGNExact, DiagGGNMC, BatchDiagGGNExact, BatchDiagGGNMC', [
        ['diag_ggn_exact', same],
        ['diag_ggn_mc', same],
        ['diag_ggn_exact_batch', batch],
        ['diag_ggn_mc_batch', batch],
      ]),
      ...run('Extensions: SqrtGGNExact, SqrtGGNMC', [
        ['sqrt_ggn_exact', sqrt(10)],
        ['sqrt_ggn_mc', sqrt(3)],
      ]),
      ...run('Extensions: KFAC, KFLR, KFRA', [
        ['kfac (shapes)', kronecker],
        ['kflr (shapes)', kronecker],
        ['kfra (shapes)', kronecker],
      ]),
      ...run('Extensions: DiagHessian, BatchDiagHessian', [
        ['diag_h', same],
        ['diag_h_batch', batch],
      ]),
    ]);
    // Labels longer than the column still get a space; the conv weight's Kronecker factors are [out², (in·k·k)²].
    expect(lines).toContain('.diag_ggn_exact_batch.shape: [4, 2, 1, 5, 5]');
    expect(lines).toContain('.kfra (shapes):           [[4, 4], [50, 50]]');
  });

  it('takes --batch-size and rejects a bad one', () => {
    const cnn = { name: 'cnn', batchSize: BATCH_SIZE };
    expect(parseArgs(['--backend', 'cpu'], cnn).batchSize).toBe(16);
    expect(parseArgs(['--backend=cpu', '--batch-size=3'], cnn).batchSize).toBe(3);
    expect(() => parseArgs(['--backend', 'cpu', '--batch-size', '0'], cnn)).toThrow(/--batch-size must be a positive integer/);
    expect(() => parseArgs(['--backend', 'cpu', '--batch-size', '2'], { name: 'seed' })).toThrow(/unknown argument '--batch-size'/);
  });
});
