/**
 * The command line, in-process through `main` (fast) and once as a real
 * process (exit code, no stack trace, paths relative to the caller's
 * directory as `pnpm backpack-ts` sees them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goldenDir, loadGoldenCase } from '@backpack-ts/conformance';
import { beforeAll, describe, expect, it } from 'vitest';
import { HELP, main } from '../src/cli/main.js';
import { loadBackend, type JsonTensor, type QuantitiesResult } from '../src/index.js';
import { INT64, buildModel, init } from './helpers/onnx-builder.js';
import { npyBytes } from './helpers/npy.js';

const here = dirname(fileURLToPath(import.meta.url));
const golden = () => loadGoldenCase(join(goldenDir()!, 'seed_linear.json'));
const seedOnnx = () => join(goldenDir()!, 'onnx', 'seed_linear.onnx');

let work: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), cwd: work });
  return { code, stdout, stderr };
}

const base = () => ['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', 'y.json', '--loss', 'CrossEntropyLoss'];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'backpack-onnx-cli-'));
  const g = golden();
  writeFileSync(join(work, 'seed_linear.onnx'), readFileSync(seedOnnx()));
  writeFileSync(join(work, 'X.json'), JSON.stringify(g.input));
  writeFileSync(join(work, 'y.json'), JSON.stringify(g.target));
  writeFileSync(join(work, 'X.npy'), npyBytes('<f4', g.input.shape, g.input.data));
  writeFileSync(join(work, 'y.npy'), npyBytes('<i8', g.target.shape, g.target.data));
  writeFileSync(join(work, 'X_wrong.json'), JSON.stringify({ shape: [6, 64], data: g.input.data }));
  writeFileSync(join(work, 'y_wrong.json'), JSON.stringify({ shape: [5], data: [0, 1, 2, 3, 4] }));
  writeFileSync(join(work, 'y_range.json'), JSON.stringify({ shape: [6], data: [0, 1, 2, 3, 4, 99] }));
  writeFileSync(join(work, 'truncated.onnx'), readFileSync(seedOnnx()).subarray(0, 1200));
  writeFileSync(
    join(work, 'unknown_op.onnx'),
    buildModel({
      inputs: [{ name: 'input', dims: ['batch', 4] }],
      outputs: [{ name: 'output', dims: ['batch', 4] }],
      nodes: [{ op: 'Erf', inputs: ['input'], outputs: ['output'], name: '/act/Erf' }],
    }),
  );
  writeFileSync(
    join(work, 'missing_init.onnx'),
    buildModel({
      inputs: [{ name: 'input', dims: ['batch', 4] }],
      outputs: [{ name: 'output', dims: ['batch', 2] }],
      initializers: [init('0.weight', [2, 4], 1)],
      nodes: [{ op: 'Gemm', inputs: ['input', '0.weight', '0.bias'], outputs: ['output'], name: '/0/Gemm', attrs: { transB: 1 } }],
    }),
  );
  writeFileSync(
    join(work, 'tokens.onnx'),
    buildModel({
      inputs: [{ name: 'tokens', elemType: INT64, dims: ['batch', 2] }],
      outputs: [{ name: 'out', dims: ['batch', 3] }],
      initializers: [init('emb.weight', [4, 3], 1), init('fc.weight', [3, 6], 2)],
      nodes: [
        { op: 'Gather', inputs: ['emb.weight', 'tokens'], outputs: ['e'], name: '/emb/Gather' },
        { op: 'Flatten', inputs: ['e'], outputs: ['f'], name: '/Flatten' },
        { op: 'Gemm', inputs: ['f', 'fc.weight'], outputs: ['out'], name: '/fc/Gemm', attrs: { transB: 1 } },
      ],
    }),
  );
  writeFileSync(join(work, 'tokens.npy'), npyBytes('<i8', [2, 2], [0, 3, 2, 1]));
  writeFileSync(join(work, 'tokens_target.json'), JSON.stringify({ shape: [2, 3], data: [0.5, 0, 1, -1, 2, 0] }));
});

describe('backpack-ts CLI', () => {
  it('prints help with an example', async () => {
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(HELP);
    expect(help.stdout).toContain('backpack-ts quantities model.onnx --input X.json --target y.json --loss CrossEntropyLoss');
    expect((await run('quantities', '--help')).stdout).toBe(HELP);
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage:');
  });

  it('writes {loss, output, quantities} named as the ONNX file names the parameters, with a progress line per extension', async () => {
    const { code, stderr } = await run(...base(), '--extensions', 'BatchGrad,DiagGGNExact,KFLR', '--out', 'result.json');
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/imported seed_linear.onnx \(pytorch 1.13.0, opset 13\): 2 modules, 2 parameters, float64 on cpu/);
    expect(stderr).toMatch(/forward check against onnxruntime-node 1.30.0: ok: max abs difference/);
    expect(stderr.match(/^\[\d\/3\] \w+ \.\.\. done in [\d.]+ s$/gm)).toHaveLength(3);
    const result = JSON.parse(readFileSync(join(work, 'result.json'), 'utf8')) as QuantitiesResult;
    expect(Object.keys(result)).toEqual(['loss', 'output', 'quantities']);
    expect(result.loss).toBeCloseTo(golden().loss, 5);
    expect(result.output.shape).toEqual([6, 10]);
    expect(Object.keys(result.quantities)).toEqual(['grad', 'BatchGrad', 'DiagGGNExact', 'KFLR']);
    expect(Object.keys(result.quantities['BatchGrad']!)).toEqual(['1.weight', '1.bias']);
    expect((result.quantities['BatchGrad']!['1.weight'] as JsonTensor).shape).toEqual([6, 10, 64]);
    expect((result.quantities['KFLR']!['1.weight'] as JsonTensor[]).map((f) => f.shape)).toEqual([[10, 10], [64, 64]]);
  });

  it('reads .npy tensors, writes to standard output, skips the check with --no-verify, runs in float32 and with Monte-Carlo options', async () => {
    const json = await run(...base(), '--extensions', 'BatchGrad', '--no-verify');
    const npy = await run('quantities', 'seed_linear.onnx', '--input', 'X.npy', '--target', 'y.npy', '--loss', 'CrossEntropyLoss', '--extensions', 'batchgrad', '--no-verify');
    expect(npy.code, npy.stderr).toBe(0);
    expect(npy.stderr).not.toContain('forward check');
    const a = JSON.parse(json.stdout) as QuantitiesResult;
    const b = JSON.parse(npy.stdout) as QuantitiesResult;
    // The .npy input is the float32 rounding of the JSON one.
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    const f32 = await run(...base(), '--extensions', 'KFAC,DiagGGNMC', '--dtype', 'float32', '--mc-samples', '3', '--seed', '5', '--reduction', 'sum', '--no-verify');
    expect(f32.code, f32.stderr).toBe(0);
    expect(f32.stderr).toContain('float32 on cpu');
    const again = await run(...base(), '--extensions', 'KFAC,DiagGGNMC', '--dtype', 'float32', '--mc-samples', '3', '--seed', '5', '--reduction', 'sum', '--no-verify');
    expect(again.stdout).toBe(f32.stdout);
  });

  it.each([
    ['onnxruntime', 'float64', 1e-10],
    ['tfjs', 'float32', 1e-4],
  ])('runs on the %s backend (%s) and agrees with the cpu backend', async (backend, dtype, tolerance) => {
    const cpu = await run(...base(), '--extensions', 'BatchGrad,DiagGGNExact,KFLR', '--no-verify');
    const other = await run(...base(), '--extensions', 'BatchGrad,DiagGGNExact,KFLR', '--backend', backend);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stderr).toMatch(new RegExp(`${dtype} on ${backend}`));
    const a = JSON.parse(cpu.stdout) as QuantitiesResult;
    const b = JSON.parse(other.stdout) as QuantitiesResult;
    expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(tolerance);
    for (const [extension, byParam] of Object.entries(a.quantities)) {
      for (const [param, q] of Object.entries(byParam)) {
        const [xs, ys] = [[q].flat(), [b.quantities[extension]![param]!].flat()];
        xs.forEach((x, i) => {
          const scale = Math.max(...x.data.map(Math.abs), 1e-300);
          const diff = Math.max(...x.data.map((v, k) => Math.abs(v - ys[i]!.data[k]!)));
          expect(diff / scale, `${extension} ${param}`).toBeLessThan(tolerance);
        });
      }
    }
  });

  it('says which package to install for a backend that is not installed', async () => {
    await expect(loadBackend('tfjs', { tfjs: '@backpack-ts/backend-not-there' })).rejects.toThrow(
      "backend 'tfjs' is not available: the package @backpack-ts/backend-not-there is not installed (install it next to @backpack-ts/onnx)",
    );
  });

  it('runs a model with integer (token) inputs and a regression loss', async () => {
    const r = await run('quantities', 'tokens.onnx', '--input', 'tokens.npy', '--target', 'tokens_target.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad,DiagHessian');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as QuantitiesResult;
    expect((result.quantities['BatchGrad']!['emb.weight'] as JsonTensor).shape).toEqual([2, 4, 3]);
  });

  it.each([
    [['quantities', 'seed_linear.onnx'], /--input is required/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[...base(), '--extensions', 'BatchGrad,Curvy'], /unknown extension 'Curvy'; available: BatchGrad, Variance/],
    [[...base(), '--extensions', 'BatchGrad', '--loss', 'HingeLoss'], /unknown loss 'HingeLoss'/],
    [[...base(), '--extensions', 'BatchGrad', '--reduction', 'max'], /--reduction must be mean or sum/],
    [[...base(), '--extensions', 'BatchGrad', '--mc-samples', '0'], /--mc-samples must be an integer >= 1/],
    [[...base(), '--extensions', 'BatchGrad', '--colour'], /Unknown option '--colour'/],
    [[...base(), '--extensions', 'BatchGrad', '--backend', 'gpu'], /unknown backend 'gpu'; available: cpu, onnxruntime, tfjs/],
    [['quantities', 'truncated.onnx', '--input', 'X.json', '--target', 'y.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /truncated/],
    [['quantities', 'nothere.onnx', '--input', 'X.json', '--target', 'y.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /cannot read '.*nothere.onnx': no such file/],
    [['quantities', 'unknown_op.onnx', '--input', 'X.json', '--target', 'y.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad'], /ONNX node '\/act\/Erf' \(op Erf\) is not supported\. Supported operators: Gemm/],
    [['quantities', 'missing_init.onnx', '--input', 'X.json', '--target', 'y.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad'], /ONNX node '\/0\/Gemm' \(op Gemm\): input '0.bias' is not produced by any node, initializer or graph input/],
    [['quantities', 'seed_linear.onnx', '--input', 'X_wrong.json', '--target', 'y.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /input of shape \[6, 64\] does not fit the ONNX model's input 'input' of shape \[batch, 1, 8, 8\]/],
    [['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', 'y_wrong.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /target's batch size 5 differs from the input's 6/],
    [['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', 'y_range.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad', '--no-verify'], /the target does not fit CrossEntropyLoss.*99/],
    [['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', 'X.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /the target must hold integers/],
    [['quantities', 'seed_linear.onnx', '--input', 'missing.json', '--target', 'y.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /missing.json': no such file/],
  ])('refuses %j with exit code 2 and one line', async (argv, message) => {
    const r = await run(...(argv as string[]));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^backpack-ts: error: .*\n$/m);
    expect(r.stderr.match(/error/g)).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints internal errors with their stack and exit code 1', async () => {
    let stderr = '';
    const code = await main([...base(), '--extensions', 'BatchGrad', '--no-verify'], {
      stdout: () => {
        throw new TypeError('stdout is gone');
      },
      stderr: (t) => (stderr += t),
      cwd: work,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^backpack-ts: internal error: TypeError: stdout is gone\n\s+at /m);
  });

  it('as a process: exit code 2, one line, no stack trace; relative paths from the caller directory (pnpm backpack-ts)', () => {
    const workspaceBin = join(here, '..', 'bin', 'workspace.mjs');
    const bad = spawnSync(process.execPath, [workspaceBin, 'quantities', 'unknown_op.onnx', '--input', 'X.json', '--target', 'y.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad'], {
      cwd: join(here, '..', '..', '..'),
      env: { ...process.env, INIT_CWD: work },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(bad.status, bad.stderr).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^backpack-ts: error: ONNX node '\/act\/Erf' \(op Erf\) is not supported/);
    expect(bad.stdout).toBe('');
  });
});
