import { describe, expect, it } from 'vitest';
import { main, parseArgs } from '../seed/main.js';

describe('seed example', () => {
  it('prints the shapes of every quantity for a batch of 512 MNIST digits, as the reference example', () => {
    const lines: string[] = [];
    main(['--backend', 'cpu'], (line) => lines.push(line));

    const parameter = (name: string, shape: string, fields: [string, string][]) => [
      name,
      `.grad.shape:              ${shape}`,
      ...fields.map(([field, fieldShape]) => `.${field}.shape:`.padEnd(26) + fieldShape),
    ];
    const run = (header: string, weight: [string, string][], bias: [string, string][]) => [
      '',
      header,
      ...parameter('1.weight', '[10, 784]', weight),
      ...parameter('1.bias', '[10]', bias),
    ];
    expect(lines).toEqual([
      'backend: cpu',
      ...run('Extension: BatchGrad', [['grad_batch', '[512, 10, 784]']], [['grad_batch', '[512, 10]']]),
      ...run('Extension: Variance', [['variance', '[10, 784]']], [['variance', '[10]']]),
      ...run('Extension: SumGradSquared', [['sum_grad_squared', '[10, 784]']], [['sum_grad_squared', '[10]']]),
      ...run('Extension: BatchL2Grad', [['batch_l2', '[512]']], [['batch_l2', '[512]']]),
      ...run(
        'Extensions: BatchGrad, Variance, SumGradSquared, BatchL2Grad',
        [
          ['grad_batch', '[512, 10, 784]'],
          ['variance', '[10, 784]'],
          ['sum_grad_squared', '[10, 784]'],
          ['batch_l2', '[512]'],
        ],
        [
          ['grad_batch', '[512, 10]'],
          ['variance', '[10]'],
          ['sum_grad_squared', '[10]'],
          ['batch_l2', '[512]'],
        ],
      ),
      ...run(
        'Extensions: DiagGGNMC, DiagGGNExact',
        [
          ['diag_ggn_mc', '[10, 784]'],
          ['diag_ggn_exact', '[10, 784]'],
        ],
        [
          ['diag_ggn_mc', '[10]'],
          ['diag_ggn_exact', '[10]'],
        ],
      ),
      '',
      'Extensions: KFAC, KFLR, KFRA',
      '1.weight',
      '.grad.shape:              [10, 784]',
      '.kfac (shapes):           [[10, 10], [784, 784]]',
      '.kflr (shapes):           [[10, 10], [784, 784]]',
      '.kfra (shapes):           [[10, 10], [784, 784]]',
      '1.bias',
      '.grad.shape:              [10]',
      '.kfac (shapes):           [[10, 10]]',
      '.kflr (shapes):           [[10, 10]]',
      '.kfra (shapes):           [[10, 10]]',
      ...run('Extension: DiagHessian', [['diag_h', '[10, 784]']], [['diag_h', '[10]']]),
    ]);
    // The reference's alignment: every shape starts in column 27.
    expect(lines).toContain('.grad_batch.shape:        [512, 10, 784]');
    expect(lines).toContain('.sum_grad_squared.shape:  [10, 784]');
  });

  it('prints the same report on the onnxruntime backend', () => {
    const onCpu: string[] = [];
    const onOrt: string[] = [];
    main(['--backend', 'cpu'], (line) => onCpu.push(line));
    main(['--backend=onnxruntime'], (line) => onOrt.push(line));
    expect(onOrt[0]).toBe('backend: onnxruntime');
    expect(onOrt.slice(1)).toEqual(onCpu.slice(1));
  });

  it('uses the fastest backend that loads by default, and says so', () => {
    const { backend, backendNote } = parseArgs([]);
    expect(backend.name).toBe('onnxruntime');
    expect(backendNote).toBe(' (the fastest that loads; choose with --backend)');
  });

  it('rejects an unknown backend with the list of available ones', () => {
    expect(() => parseArgs(['--backend', 'webgpu'])).toThrow(/backend 'webgpu' is not available \(available: cpu, onnxruntime, tfjs\)/);
    expect(parseArgs(['--backend=cpu']).backend.name).toBe('cpu');
  });
});
