/**
 * The command line, in-process through `main` (fast) and once as a real
 * process (exit code, no stack trace, paths relative to the caller's
 * directory as `pnpm backpack-ts` sees them).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goldenDir, loadGoldenCase } from '@backpack-ts/conformance';
import { beforeAll, describe, expect, it } from 'vitest';
import { HELP, formatBytes, main, parseByteSize } from '../src/cli/main.js';
import type { OutputFileSystem } from '../src/cli/output.js';
import {
  OnnxMemoryLimitError,
  estimateQuantitiesMemory,
  importOnnx,
  loadBackend,
  parseJsonTensor,
  type JsonNumber,
  type JsonQuantity,
  type JsonTensor,
} from '../src/index.js';
import { INT64, buildModel, init } from './helpers/onnx-builder.js';
import { npyBytes } from './helpers/npy.js';
import { memberBytes, readNpyFloat64, readZipDirectory } from './helpers/zip-reader.js';

const here = dirname(fileURLToPath(import.meta.url));
const golden = () => loadGoldenCase(join(goldenDir()!, 'seed_linear.json'));
const seedOnnx = () => join(goldenDir()!, 'onnx', 'seed_linear.onnx');

let work: string;

/** A result as read back from the JSON the CLI writes. */
interface JsonResult {
  loss: JsonNumber;
  output: JsonTensor;
  quantities: Record<string, Record<string, JsonQuantity>>;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(...argv: string[]): Promise<Run> {
  return runWith(undefined, ...argv);
}

/** Runs the CLI in-process with `outputFs` as the file system `--out` is written through. */
async function runWith(outputFs: OutputFileSystem | undefined, ...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), cwd: work, ...(outputFs && { fs: outputFs }) });
  return { code, stdout, stderr };
}

/** A two-feature Gemm model `output = input · weightᵀ (+ bias)` with the initializers given. */
function gemmModel(weight: { name: string; values: number[] }, bias?: { name: string; values: number[] }): Uint8Array {
  return buildModel({
    inputs: [{ name: 'input', dims: ['batch', 2] }],
    outputs: [{ name: 'output', dims: ['batch', 2] }],
    initializers: [{ name: weight.name, dims: [2, 2], values: weight.values }, ...(bias ? [{ name: bias.name, dims: [2], values: bias.values }] : [])],
    nodes: [{ op: 'Gemm', inputs: ['input', weight.name, ...(bias ? [bias.name] : [])], outputs: ['output'], name: '/fc/Gemm', attrs: { transB: 1 } }],
  });
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
  writeFileSync(join(work, 'tokens_big.npy'), npyBytes('<i8', [2, 2], [0, 4, 2, 1]));
  writeFileSync(join(work, 'tokens_negative.json'), JSON.stringify({ shape: [2, 2], data: [0, 3, -1, 1] }));
  writeFileSync(join(work, 'y_big.json'), JSON.stringify({ shape: [6], data: [0, 1, 2, 3, 4, 2 ** 31] }));
  const huge = npyBytes('<i8', [6], [0, 1, 2, 3, 4, 5]);
  new DataView(huge.buffer).setBigInt64(huge.length - 8, 2n ** 60n, true);
  writeFileSync(join(work, 'y_huge.npy'), huge);
  writeFileSync(join(work, 'y_f64.npy'), npyBytes('<f8', g.target.shape, g.target.data));
  writeFileSync(join(work, 'y_frac.npy'), npyBytes('<f8', [6], [0, 1, 2.5, 3, 4, 5]));
  writeFileSync(join(work, 'X_deep.json'), `${'['.repeat(100_000)}1${']'.repeat(100_000)}`);
  writeFileSync(join(work, 'nan.onnx'), gemmModel({ name: 'w', values: [NaN, 1, 2, 3] }));
  writeFileSync(join(work, 'overflow.onnx'), gemmModel({ name: 'w', values: [1e38, 0, 0, 1] }));
  writeFileSync(join(work, 'names.onnx'), gemmModel({ name: '__proto__', values: [0.5, -1, 2, 0.25] }, { name: 'constructor', values: [0.125, -0.25] }));
  writeFileSync(join(work, 'x2.json'), JSON.stringify({ shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }));
  writeFileSync(join(work, 'y2.json'), JSON.stringify({ shape: [3, 2], data: [0, 0, 0, 0, 0, 0] }));
  writeFileSync(join(work, 'x_overflow.json'), JSON.stringify({ shape: [1, 2], data: [10, 1] }));
  writeFileSync(join(work, 'y_overflow.json'), JSON.stringify({ shape: [1, 2], data: [0, 0] }));
});

describe('backpack-ts CLI', () => {
  it('prints help with an example', async () => {
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(HELP);
    expect(help.stdout).toContain('backpack-ts quantities model.onnx --input X.json --target y.json --loss CrossEntropyLoss');
    expect((await run('quantities', '--help')).stdout).toBe(HELP);
    // One default, the import's: half of the machine's memory (or of a container's limit where that is lower).
    const container = process.constrainedMemory?.() || Infinity;
    expect(HELP).toContain(`(default: half of this machine's memory, or of\n`);
    expect(HELP).toContain(`here ${formatBytes(Math.floor(Math.min(totalmem(), container) / 2))})`);
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage:');
  });

  it('writes {loss, output, quantities} named as the ONNX file names the parameters, with one progress line when stderr is no terminal', async () => {
    const { code, stderr } = await run(...base(), '--extensions', 'BatchGrad,DiagGGNExact,KFLR', '--out', 'result.json');
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/imported seed_linear.onnx \(pytorch 1.13.0, opset 13\): 2 modules, 2 parameters, float64 on cpu/);
    expect(stderr).toMatch(/forward check against onnxruntime-node 1.30.0: ok: max abs difference/);
    expect(stderr).toMatch(/^3 extensions in [\d.]+ s: BatchGrad [\d.]+ s, DiagGGNExact [\d.]+ s, KFLR [\d.]+ s$/m);
    expect(stderr).not.toContain('\r');
    const result = JSON.parse(readFileSync(join(work, 'result.json'), 'utf8')) as JsonResult;
    expect(Object.keys(result)).toEqual(['loss', 'output', 'quantities']);
    expect(result.loss as number).toBeCloseTo(golden().loss, 5);
    expect(result.output.shape).toEqual([6, 10]);
    expect(Object.keys(result.quantities)).toEqual(['grad', 'BatchGrad', 'DiagGGNExact', 'KFLR']);
    expect(Object.keys(result.quantities['BatchGrad']!)).toEqual(['1.weight', '1.bias']);
    expect((result.quantities['BatchGrad']!['1.weight'] as JsonTensor).shape).toEqual([6, 10, 64]);
    expect((result.quantities['KFLR']!['1.weight'] as JsonTensor[]).map((f) => f.shape)).toEqual([[10, 10], [64, 64]]);
  });

  it('draws a progress bar in place when stderr is a terminal, then the same final line', async () => {
    let stderr = '';
    const argv = [...base(), '--extensions', 'BatchGrad,KFLR', '--out', 'tty.json'];
    const code = await main(argv, { stdout: () => {}, stderr: (t) => (stderr += t), cwd: work, stderrIsTTY: true, stderrColumns: 200 });
    expect(code, stderr).toBe(0);
    const frames = stderr.slice(stderr.indexOf('\r')).split('\r\x1b[2K').slice(1);
    expect(frames.slice(0, 4).map((f) => f.replace(/[\d.]+ s/g, 'T s'))).toEqual([
      'backpack-ts [....................] 0/2 BatchGrad ...',
      'backpack-ts [##########..........] 1/2 BatchGrad done in T s',
      'backpack-ts [##########..........] 1/2 KFLR ...',
      'backpack-ts [####################] 2/2 KFLR done in T s',
    ]);
    // The bar is cleared before the summary, which ends with a newline like every other line.
    expect(frames[4]).toMatch(/^2 extensions in [\d.]+ s: BatchGrad [\d.]+ s, KFLR [\d.]+ s\nwrote tty\.json \(json\)\n$/);
  });

  it('reads .npy tensors, writes to standard output, skips the check with --no-verify, runs in float32 and with Monte-Carlo options', async () => {
    const json = await run(...base(), '--extensions', 'BatchGrad', '--no-verify');
    const npy = await run('quantities', 'seed_linear.onnx', '--input', 'X.npy', '--target', 'y.npy', '--loss', 'CrossEntropyLoss', '--extensions', 'batchgrad', '--no-verify');
    expect(npy.code, npy.stderr).toBe(0);
    expect(npy.stderr).not.toContain('forward check');
    const a = JSON.parse(json.stdout) as JsonResult;
    const b = JSON.parse(npy.stdout) as JsonResult;
    // The .npy input is the float32 rounding of the JSON one.
    expect(Math.abs((a.loss as number) - (b.loss as number))).toBeLessThan(1e-6);
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
    const a = JSON.parse(cpu.stdout) as JsonResult;
    const b = JSON.parse(other.stdout) as JsonResult;
    expect(Math.abs((b.loss as number) - (a.loss as number)) / (a.loss as number)).toBeLessThan(tolerance);
    for (const [extension, byParam] of Object.entries(a.quantities)) {
      for (const [param, q] of Object.entries(byParam)) {
        const [xs, ys] = [[q].flat(), [b.quantities[extension]![param]!].flat()];
        xs.forEach((x, i) => {
          const [xd, yd] = [x.data as number[], ys[i]!.data as number[]];
          const scale = Math.max(...xd.map(Math.abs), 1e-300);
          const diff = Math.max(...xd.map((v, k) => Math.abs(v - yd[k]!)));
          expect(diff / scale, `${extension} ${param}`).toBeLessThan(tolerance);
        });
      }
    }
  });

  it('says which package to install for a backend that is not installed', async () => {
    await expect(loadBackend('tfjs', new Map([['tfjs', '@backpack-ts/backend-not-there']]))).rejects.toThrow(
      "backend 'tfjs' is not available: the package @backpack-ts/backend-not-there is not installed (install it next to @backpack-ts/onnx)",
    );
  });

  it('runs a model with integer (token) inputs and a regression loss', async () => {
    const r = await run('quantities', 'tokens.onnx', '--input', 'tokens.npy', '--target', 'tokens_target.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad,DiagHessian');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as JsonResult;
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
    [['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', 'y_range.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad', '--no-verify'], /y_range.json: class index 99 at \[5\] is out of range; allowed: integers in \[0, 9\] \(the model's output has 10 classes\)/],
    [['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', 'X.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], /X.json: class index -?[\d.e-]+ at \[0, 0, 0, 0\] is not an integer; allowed: integers in \[0, 9\]/],
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

/** Parses the JSON the CLI wrote. */
const parse = (text: string) => JSON.parse(text) as JsonResult;

describe('backpack-ts CLI: output formats and atomic writes (issue 12, items 2 and 3)', () => {
  it('writes the same numbers as npz and as a folder of .npy files, read back by an independent reader', async () => {
    const json = parse((await run(...base(), '--extensions', 'BatchGrad,KFLR', '--no-verify')).stdout);
    const npz = await run(...base(), '--extensions', 'BatchGrad,KFLR', '--no-verify', '--out', 'r.npz');
    expect(npz.code, npz.stderr).toBe(0);
    expect(npz.stderr).toContain('wrote r.npz (npz)');
    const bytes = readFileSync(join(work, 'r.npz'));
    const read = (p: number, n: number) => bytes.subarray(p, p + n);
    const { members } = readZipDirectory(read, bytes.length);
    const array = (name: string) => readNpyFloat64(memberBytes(read, members.find((m) => m.name === name)!));
    const batchGrad = json.quantities['BatchGrad']!['1.weight'] as JsonTensor;
    expect(array('BatchGrad/1.weight.npy').shape).toEqual(batchGrad.shape);
    expect(Array.from(array('BatchGrad/1.weight.npy').data)).toEqual(batchGrad.data);
    expect(Array.from(array('KFLR/1.weight.1.npy').data)).toEqual((json.quantities['KFLR']!['1.weight'] as JsonTensor[])[1]!.data);
    expect(array('loss.npy').data[0]).toBe(json.loss);

    const dir = await run(...base(), '--extensions', 'BatchGrad,KFLR', '--no-verify', '--out', 'r-folder/');
    expect(dir.code, dir.stderr).toBe(0);
    expect(readdirSync(join(work, 'r-folder')).sort()).toEqual(['BatchGrad', 'KFLR', 'grad', 'index.json', 'loss.npy', 'output.npy']);
    expect(Array.from(readNpyFloat64(readFileSync(join(work, 'r-folder', 'grad', '1.bias.npy'))).data)).toEqual((json.quantities['grad']!['1.bias'] as JsonTensor).data);
  });

  it.each([
    [['--out', 'no-such-folder/result.json'], /--out no-such-folder\/result.json: the folder .*no-such-folder does not exist/],
    [['--format', 'npz'], /--format npz writes files: give --out <file.npz>/],
    [['--format', 'xml', '--out', 'r.xml'], /--format must be one of json, npz, npy-dir, got 'xml'/],
    [['--out', 'X.json/'], /--out X.json\/: exists and is not a folder/],
  ])('refuses %j before computing anything', async (extra, message) => {
    const r = await run(...base(), '--extensions', 'BatchGrad', ...extra);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain('imported');
    expect(existsSync(join(work, 'no-such-folder'))).toBe(false);
  });

  it('leaves a previous --out file as it was, and no temporary file, when the disk fills while writing', async () => {
    const folder = mkdtempSync(join(work, 'atomic-'));
    const out = join(folder, 'result.json');
    writeFileSync(out, '{"previous": true}');
    const full: OutputFileSystem = {
      ...fs,
      writeSync: (() => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }) as typeof fs.writeSync,
    };
    const r = await runWith(full, ...base(), '--extensions', 'BatchGrad', '--no-verify', '--out', out);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`backpack-ts: error: cannot write ${out}: ENOSPC: no space left on device, write (nothing was written; a previous ${out} is unchanged)`);
    expect(readFileSync(out, 'utf8')).toBe('{"previous": true}');
    expect(readdirSync(folder)).toEqual(['result.json']);
  });
});

describe('backpack-ts CLI: non-finite values (issue 12, item 4)', () => {
  it('warns per quantity with the count of NaN and Infinity, writes them as strings that read back, and the forward check names the model or input', async () => {
    const r = await run('quantities', 'nan.onnx', '--input', 'x2.json', '--target', 'y2.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/forward check against onnxruntime-node 1.30.0: ok: .*the model or its input has non-finite values: 3 NaN\/Infinity in the input and outputs, the same in both outputs/);
    expect(r.stderr).not.toContain('please report');
    const how = 'written as the strings "NaN", "Infinity", "-Infinity"';
    expect(r.stderr).toContain(`warning: loss: 1 of 1 values are not finite (1 NaN, 0 Infinity, 0 -Infinity), ${how}\n`);
    expect(r.stderr).toContain(`warning: output: 3 of 6 values are not finite (3 NaN, 0 Infinity, 0 -Infinity), ${how}\n`);
    expect(r.stderr).toContain(`warning: grad w: 2 of 4 values are not finite (2 NaN, 0 Infinity, 0 -Infinity), ${how}\n`);
    expect(r.stderr).toContain(`warning: BatchGrad w: 6 of 12 values are not finite (6 NaN, 0 Infinity, 0 -Infinity), ${how}\n`);
    const result = parse(r.stdout);
    expect(result.loss).toBe('NaN');
    // Output column 1 is 2·x0 + 3·x1; column 0 reads back as NaN.
    expect(Array.from(parseJsonTensor(JSON.stringify(result.output), 'result.json').data)).toEqual([NaN, 8, NaN, 18, NaN, 28]);
    // grad of row 1 of w: (2 / (N·2)) Σ_n out_n1 · x_n with out_·1 = [8, 18, 28], x = [[1, 2], [3, 4], [5, 6]].
    const grad = parseJsonTensor(JSON.stringify(result.quantities['grad']!['w']), 'result.json').data;
    expect(grad[0]).toBeNaN();
    expect(grad[1]).toBeNaN();
    expect(grad[2]).toBeCloseTo((8 * 1 + 18 * 3 + 28 * 5) / 3, 12);
    expect(grad[3]).toBeCloseTo((8 * 2 + 18 * 4 + 28 * 6) / 3, 12);

    const npz = await run('quantities', 'nan.onnx', '--input', 'x2.json', '--target', 'y2.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad', '--out', 'nan.npz');
    expect(npz.stderr).toContain('warning: loss: 1 of 1 values are not finite (1 NaN, 0 Infinity, 0 -Infinity), kept exactly in the .npy files');
    const bytes = readFileSync(join(work, 'nan.npz'));
    const read = (p: number, n: number) => bytes.subarray(p, p + n);
    const output = readZipDirectory(read, bytes.length).members.find((m) => m.name === 'output.npy')!;
    expect(Array.from(readNpyFloat64(memberBytes(read, output)).data)).toEqual([NaN, 8, NaN, 18, NaN, 28]);
  });

  it('fails the forward check (exit 3) where float32 ONNX Runtime overflows and float64 does not, saying so instead of "please report"', async () => {
    const r = await run('quantities', 'overflow.onnx', '--input', 'x_overflow.json', '--target', 'y_overflow.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/forward check against onnxruntime-node 1.30.0: FAIL: .*1 NaN\/Infinity in the input and outputs, 1 of them where the other output differs/);
    expect(r.stderr).toContain('the model or its input has non-finite values (NaN or Infinity), where the two computations may differ; check the weights and the input (or run with --no-verify)');
    expect(r.stderr).not.toContain('please report');
  });
});

describe('backpack-ts CLI: memory limit (issue 12, item 5)', () => {
  it('estimates the memory of each extension from the shapes', () => {
    // seed_linear: one Linear 64 -> 10 (650 parameters), N = 6, C = 10 outputs, largest activation 64, M = 3.
    const estimate = estimateQuantitiesMemory({
      parameterShapes: [[10, 64], [10]],
      batch: 6,
      outputSize: 10,
      activationSize: 64,
      mcSamples: 3,
      bytesPerValue: 8,
      extensions: ['BatchGrad', 'SqrtGGNMC', 'KFLR', 'BatchL2Grad', 'KFRA'],
    });
    expect(estimate.extensions).toEqual([
      { extension: 'BatchGrad', stored: 6 * 650 * 8, backpropagated: 6 * 64 * 8 },
      { extension: 'SqrtGGNMC', stored: 3 * 6 * 650 * 8, backpropagated: 3 * 6 * 64 * 8 },
      { extension: 'KFLR', stored: (10 * 10 + 64 * 64 + 10 * 10) * 8, backpropagated: 10 * 6 * 64 * 8 },
      { extension: 'BatchL2Grad', stored: 6 * 2 * 8, backpropagated: 6 * 64 * 8 },
      { extension: 'KFRA', stored: (10 * 10 + 64 * 64 + 10 * 10) * 8, backpropagated: (64 * 64 + 10 * 6 * 64) * 8 },
    ]);
    const stored = (6 * 650 + 3 * 6 * 650 + 2 * 4296 + 12) * 8;
    expect(estimate.base).toBe((6 * 10 + 650) * 8);
    expect(estimate.bytes).toBe(estimate.base + stored + (3 * 6 * 650 + 3 * 6 * 64) * 8);
    expect(() => estimateQuantitiesMemory({ ...{ parameterShapes: [], batch: 1, outputSize: 1, activationSize: 1, bytesPerValue: 8 }, extensions: ['__proto__'] })).toThrow(
      "unknown extension '__proto__'",
    );
  });

  it('refuses --mc-samples 1e7 over --memory-limit before computing, with the estimate and what to change, and writes nothing', async () => {
    const r = await run(...base(), '--extensions', 'DiagGGNMC', '--mc-samples', '1e7', '--memory-limit', '4GB', '--out', 'refused.json');
    expect(r.code, r.stderr).toBe(2);
    // DiagGGNMC passes [M, N, A] = [1e7, 6, 64] float64 values backward: 3.072e10 bytes, 28.6 GiB; 4GB is 4e9 bytes, 3.73 GiB.
    expect(r.stderr).toMatch(
      /^backpack-ts: error: the requested quantities need about 28\.6 GiB of memory \(DiagGGNMC stores 5\.08 KiB and passes 28\.6 GiB backward\), more than the limit of 3\.73 GiB \(4000000000 bytes, --memory-limit\); use a smaller batch \(now 6 samples\), fewer Monte-Carlo samples \(--mc-samples, now 10000000\) or fewer extensions, or consume per-sample quantities as they are computed in an extension hook/m,
    );
    expect(r.stderr).not.toContain('extension in');
    expect(existsSync(join(work, 'refused.json'))).toBe(false);
  });

  it('refuses --mc-samples 1e9 under the default limit (exit 2, one line) and per-sample quantities past a small limit', async () => {
    const mc = await run(...base(), '--extensions', 'KFAC', '--mc-samples', '1e9');
    expect(mc.code, mc.stderr).toBe(2);
    expect(mc.stderr).toMatch(/^backpack-ts: error: the requested quantities need about 2\.79 TiB of memory \(KFAC .*\(--mc-samples, now 1000000000\)/m);
    expect(mc.stderr).not.toMatch(/\n\s+at /);
    const batchGrad = await run(...base(), '--extensions', 'BatchGrad', '--memory-limit', '30KiB');
    expect(batchGrad.code, batchGrad.stderr).toBe(2);
    expect(batchGrad.stderr).toContain('(BatchGrad stores 30.5 KiB and passes 3 KiB backward), more than the limit of 30 KiB (30720 bytes, --memory-limit)');
    expect((await run(...base(), '--extensions', 'BatchGrad', '--memory-limit', '80KB', '--no-verify')).code).toBe(0);
    expect((await run(...base(), '--extensions', 'BatchGrad', '--memory-limit', '80kib', '--no-verify')).code).toBe(0);
    const bad = await run(...base(), '--extensions', 'BatchGrad', '--memory-limit', 'lots');
    expect(bad.stderr).toContain("--memory-limit must be a positive size in bytes, e.g. 4GiB, 512MiB, 4GB or 4000000000, got 'lots'");
  });

  it('reads sizes in binary (KiB, as messages print them) and decimal (KB) units', () => {
    expect(['4GiB', '4GB', '30KiB', '30kb', '512 MiB', '1.5 TB', '4e9', '100', '100B'].map((text) => parseByteSize(text))).toEqual([
      4 * 2 ** 30,
      4e9,
      30 * 1024,
      30_000,
      512 * 2 ** 20,
      1.5e12,
      4e9,
      100,
      100,
    ]);
    for (const bad of ['0', '-1KiB', '4 GiBs', '4K', '']) expect(() => parseByteSize(bad)).toThrow(`--memory-limit must be a positive size in bytes`);
  });

  it("passes --memory-limit to the import: a tiny model whose import needs more stops there with the import's OnnxMemoryLimitError, and runs under a larger limit", async () => {
    // A 4 x 4 image padded by 30 on each side: the import's trace (a batch of 2) holds [2, 1, 63, 63] float64 outputs, about 62 KiB,
    // from a file of a few hundred bytes.
    writeFileSync(
      join(work, 'padded.onnx'),
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 1, 4, 4] }],
        outputs: [{ name: 'y', dims: ['N', 1, 63, 63] }],
        initializers: [init('w', [1, 1, 2, 2], 1)],
        nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: 'conv', attrs: { pads: [30, 30, 30, 30] } }],
      }),
    );
    writeFileSync(join(work, 'x_padded.json'), JSON.stringify({ shape: [1, 1, 4, 4], data: Array.from({ length: 16 }, (_, i) => i / 16) }));
    writeFileSync(join(work, 'y_padded.json'), JSON.stringify({ shape: [1, 1, 63, 63], data: new Array(63 * 63).fill(0.5) }));
    const args = ['quantities', 'padded.onnx', '--input', 'x_padded.json', '--target', 'y_padded.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad'];

    const limit = 32 * 1024;
    let importError: unknown;
    try {
      importOnnx(join(work, 'padded.onnx'), { backend: await loadBackend('cpu'), memoryLimitBytes: limit });
    } catch (error) {
      importError = error;
    }
    expect(importError).toBeInstanceOf(OnnxMemoryLimitError);
    expect((importError as OnnxMemoryLimitError).limitBytes).toBe(limit);

    const refused = await run(...args, '--memory-limit', '32KiB', '--out', 'padded.json');
    expect(refused.code, refused.stderr).toBe(2);
    // The import's message, not the quantities' check after it: nothing was imported.
    expect(refused.stderr).toBe(`backpack-ts: error: ${(importError as Error).message}\n`);
    expect(refused.stderr).toMatch(/^backpack-ts: error: ONNX node 'conv' \(op Conv\) as Conv2d .* more than the import's memory limit of 32 KiB \(32768 bytes\)\. .*the CLI's --memory-limit/);
    expect(existsSync(join(work, 'padded.json'))).toBe(false);

    const passed = await run(...args, '--memory-limit', '1MiB', '--out', 'padded.json');
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stderr).toContain('imported padded.onnx');
    const result = JSON.parse(readFileSync(join(work, 'padded.json'), 'utf8')) as JsonResult;
    expect(result.output.shape).toEqual([1, 1, 63, 63]);
    expect((result.quantities['BatchGrad']!['w'] as JsonTensor).shape).toEqual([1, 1, 1, 2, 2]);
  });
});

describe("backpack-ts CLI: names that are JavaScript's own (issue 12, item 8)", () => {
  it.each([
    [['--backend', 'constructor'], "unknown backend 'constructor'; available: cpu, onnxruntime, tfjs"],
    [['--extensions', '__proto__'], "unknown extension '__proto__'; available: BatchGrad, Variance"],
    [['--extensions', 'constructor'], "unknown extension 'constructor'"],
    [['--loss', 'toString'], "unknown loss 'toString'; available: CrossEntropyLoss, MSELoss, BCEWithLogitsLoss"],
    [['--format', 'hasOwnProperty', '--out', 'r'], "--format must be one of json, npz, npy-dir, got 'hasOwnProperty'"],
  ])('refuses %j as unknown', async (extra, message) => {
    const argv = [...base(), '--extensions', 'BatchGrad', ...extra];
    const r = await run(...argv);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`backpack-ts: error: ${message}`);
  });

  it('writes parameters named __proto__ and constructor as keys, with the gradient of a hand-computed MSE', async () => {
    const r = await run('quantities', 'names.onnx', '--input', 'x2.json', '--target', 'y2.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad,KFLR');
    expect(r.code, r.stderr).toBe(0);
    const result = parse(r.stdout);
    for (const extension of ['grad', 'BatchGrad', 'KFLR']) {
      expect(Object.keys(result.quantities[extension]!), extension).toEqual(['__proto__', 'constructor']);
    }
    // out_n = W x_n + b with W = [[0.5, -1], [2, 0.25]], b = [0.125, -0.25]; MSE (mean over N·2) against 0.
    const [w, b, x] = [[[0.5, -1], [2, 0.25]], [0.125, -0.25], [[1, 2], [3, 4], [5, 6]]];
    const outs = x.map((xn) => w.map((row, o) => row[0]! * xn[0]! + row[1]! * xn[1]! + b[o]!));
    const gradW = w.map((_, o) => [0, 1].map((i) => outs.reduce((s, out, n) => s + (2 / 6) * out[o]! * x[n]![i]!, 0)));
    const gradB = b.map((_, o) => outs.reduce((s, out) => s + (2 / 6) * out[o]!, 0));
    const w_ = (result.quantities['grad']!['__proto__'] as JsonTensor).data as number[];
    const b_ = (result.quantities['grad']!['constructor'] as JsonTensor).data as number[];
    gradW.flat().forEach((v, i) => expect(w_[i]).toBeCloseTo(v, 12));
    gradB.forEach((v, i) => expect(b_[i]).toBeCloseTo(v, 12));
    // Per-sample gradients sum to the gradient.
    const perSample = (result.quantities['BatchGrad']!['__proto__'] as JsonTensor).data as number[];
    gradW.flat().forEach((v, i) => expect(perSample[i]! + perSample[4 + i]! + perSample[8 + i]!).toBeCloseTo(v, 12));
  });
});

describe('backpack-ts CLI: user errors in the data (issue 12, item 9)', () => {
  const tokens = (input: string) => ['quantities', 'tokens.onnx', '--input', input, '--target', 'tokens_target.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad'];
  const targets = (target: string) => ['quantities', 'seed_linear.onnx', '--input', 'X.json', '--target', target, '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'];
  it.each([
    [targets('y_big.json'), "y_big.json: class index 2147483648 at [5] is out of range; allowed: integers in [0, 9] (the model's output has 10 classes)"],
    [targets('y_huge.npy'), 'y_huge.npy: int64 value 1152921504606846976 at index 5 is out of the range this reader holds exactly, [-2^53, 2^53]'],
    [targets('y_frac.npy'), "y_frac.npy: class index 2.5 at [2] is not an integer; allowed: integers in [0, 9] (the model's output has 10 classes)"],
    [tokens('tokens_big.npy'), 'tokens_big.npy: token id 4 at [0, 1] is out of range; allowed: integers in [0, 3] (the Embedding has 4 rows)'],
    [tokens('tokens_negative.json'), 'tokens_negative.json: token id -1 at [1, 0] is out of range; allowed: integers in [0, 3] (the Embedding has 4 rows)'],
    [['quantities', 'seed_linear.onnx', '--input', 'X_deep.json', '--target', 'y.json', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad'], 'X_deep.json: lists nested deeper than 64 levels'],
  ])('refuses %j with exit code 2 and one line naming the file, the value and the range', async (argv, message) => {
    const r = await run(...argv);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^backpack-ts: error: .*\n$/m);
    expect(r.stderr).toContain(message);
    expect(r.stderr.match(/error/g)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('accepts float64 .npy targets holding whole numbers as class indices, with the same result as int64 targets', async () => {
    const f64 = await run(...base().slice(0, 4), '--target', 'y_f64.npy', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad', '--no-verify');
    const i64 = await run(...base().slice(0, 4), '--target', 'y.npy', '--loss', 'CrossEntropyLoss', '--extensions', 'BatchGrad', '--no-verify');
    expect(f64.code, f64.stderr).toBe(0);
    expect(f64.stdout).toBe(i64.stdout);
    expect(parse(f64.stdout).loss as number).toBeCloseTo(golden().loss, 5);
  });
});
