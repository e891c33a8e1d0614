/**
 * What an ONNX file can make the importer read: external data only from
 * regular files inside the model's folder, only the byte range the tensor
 * needs (offset and length honoured and checked), and the file's type and
 * size checked before anything is read. Everything else is an
 * OnnxImportError naming the initializer and the path.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpu } from '@backpack-ts/backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxImportError, importOnnx, verifyWithOnnxRuntime } from '../src/index.js';
import { inputFor } from './helpers/check.js';
import { buildModel, init, values } from './helpers/onnx-builder.js';

const here = dirname(fileURLToPath(import.meta.url));
const weights = values(12, 1);
const float32Bytes = (xs: readonly number[]) => new Uint8Array(Float32Array.from(xs).buffer);

let root: string;
let folder: string;

/** Writes `name` into the model folder: a Gemm whose weight W [3, 4] has these external_data entries. */
function writeModel(name: string, external: readonly (readonly [string, string])[]): string {
  const path = join(folder, name);
  writeFileSync(
    path,
    buildModel({
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y', dims: ['N', 3] }],
      initializers: [{ name: 'W', dims: [3, 4], values: [], external }, init('b', [3], 2)],
      nodes: [{ op: 'Gemm', inputs: ['x', 'W', 'b'], outputs: ['y'], name: '/fc/Gemm', attrs: { transB: 1 } }],
    }),
  );
  return path;
}

function importError(path: string): Error {
  try {
    importOnnx(path, { backend: cpu });
  } catch (error) {
    return error as Error;
  }
  throw new Error(`importing ${path} did not fail`);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'backpack-onnx-external-'));
  folder = join(root, 'model');
  mkdirSync(folder);
  mkdirSync(join(folder, 'sub'));
  mkdirSync(join(root, 'outside'));
  // W's 48 bytes after 16 bytes of something else, and more after it.
  writeFileSync(join(folder, 'weights.bin'), Uint8Array.from([...new Uint8Array(16).fill(7), ...float32Bytes(weights), 1, 2, 3]));
  writeFileSync(join(folder, 'short.bin'), new Uint8Array(10));
  writeFileSync(join(root, 'outside', 'secret.bin'), float32Bytes(weights));
  symlinkSync(join(root, 'outside', 'secret.bin'), join(folder, 'link-out'));
  symlinkSync('/dev/zero', join(folder, 'zero'));
  const fifo = spawnSync('mkfifo', [join(folder, 'fifo')], { encoding: 'utf8' });
  if (fifo.status !== 0) throw new Error(`mkfifo failed: ${fifo.stderr}`);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('external data', () => {
  it('reads the declared byte range of a file in the model folder; ONNX Runtime agrees', async () => {
    const path = writeModel('valid.onnx', [
      ['location', 'weights.bin'],
      ['offset', '16'],
      ['length', '48'],
    ]);
    const model = importOnnx(path, { backend: cpu });
    const w = new Map(model.namedParameters()).get('W')!;
    expect(Array.from(w.data.toArray())).toEqual(weights.map(Math.fround));
    const report = await verifyWithOnnxRuntime(model, inputFor(model));
    expect(report.message).toMatch(/: ok:/);
  });

  it('without a length, reads the bytes the tensor needs from the offset', () => {
    const model = importOnnx(writeModel('no-length.onnx', [['location', 'weights.bin'], ['offset', '16']]), { backend: cpu });
    const w = new Map(model.namedParameters()).get('W')!;
    expect(Array.from(w.data.toArray())).toEqual(weights.map(Math.fround));
  });

  it('refuses paths that leave the model folder, naming the initializer and the path', () => {
    const traversal = importError(writeModel('traversal.onnx', [['location', '../outside/secret.bin']]));
    expect(traversal).toBeInstanceOf(OnnxImportError);
    expect(traversal.message).toMatch(/^initializer 'W': external data location '\.\.\/outside\/secret\.bin' resolves to '.*\/outside\/secret\.bin', outside the model's folder/);
    const deep = importError(writeModel('passwd.onnx', [['location', '../../../../../../../../../../etc/passwd']]));
    expect(deep.message).toContain("resolves to '/etc/passwd', outside the model's folder");
  });

  it('refuses absolute locations', () => {
    for (const location of ['/etc/passwd', '/proc/self/environ']) {
      const error = importError(writeModel('absolute.onnx', [['location', location]]));
      expect(error).toBeInstanceOf(OnnxImportError);
      expect(error.message).toContain(`initializer 'W': external data location '${location}' is an absolute path`);
    }
  });

  it('refuses symbolic links that point outside the model folder, /dev/zero among them', () => {
    const link = importError(writeModel('link.onnx', [['location', 'link-out']]));
    expect(link.message).toMatch(/external data location 'link-out' resolves to '.*\/outside\/secret\.bin', outside the model's folder/);
    const zero = importError(writeModel('zero.onnx', [['location', 'zero']]));
    expect(zero).toBeInstanceOf(OnnxImportError);
    expect(zero.message).toContain("external data location 'zero' resolves to '/dev/zero', outside the model's folder");
  });

  it('refuses files too short for the tensor before reading, and lengths or offsets that do not fit', () => {
    const short = importError(writeModel('short.onnx', [['location', 'short.bin']]));
    expect(short.message).toMatch(/^initializer 'W': external data file '.*short\.bin': it has 10 bytes, but the tensor needs bytes \[0, 48\)/);
    const past = importError(writeModel('past.onnx', [['location', 'weights.bin'], ['offset', '40']]));
    expect(past.message).toContain('it has 67 bytes, but the tensor needs bytes [40, 88)');
    const length = importError(writeModel('length.onnx', [['location', 'weights.bin'], ['length', '40']]));
    expect(length.message).toBe("initializer 'W': external data length 40 differs from the 48 bytes its shape and element type need");
    const offset = importError(writeModel('offset.onnx', [['location', 'weights.bin'], ['offset', '-1']]));
    expect(offset.message).toBe(`initializer 'W': external data offset '-1' is not an integer in [0, ${Number.MAX_SAFE_INTEGER}]`);
  });

  it('refuses directories, missing files and models given as bytes', () => {
    expect(importError(writeModel('dir.onnx', [['location', 'sub']])).message).toMatch(/external data file '.*\/sub': it is a directory; only regular files are read/);
    expect(importError(writeModel('missing.onnx', [['location', 'nope.bin']])).message).toMatch(/external data file 'nope\.bin' in '.*': no such file/);
    expect(importError(writeModel('none.onnx', [['offset', '0']])).message).toBe("initializer 'W': external data without a location");
    expect(importError(folder).message).toBe(`cannot read '${folder}': it is a directory; only regular files are read`);
    const path = writeModel('bytes.onnx', [['location', 'weights.bin']]);
    expect(() => importOnnx(readFileSync(path), { backend: cpu })).toThrow(
      "initializer 'W': its data is stored in the external file 'weights.bin'; import the model from its path (not from bytes)",
    );
  });

  it('refuses a FIFO without opening it, as external data or as the model (a separate process, so a hang fails the test)', () => {
    const fifoModel = writeModel('fifo.onnx', [['location', 'fifo']]);
    const cli = join(here, '..', 'bin', 'workspace.mjs');
    for (const [model, expected] of [
      [fifoModel, /^backpack-ts: error: initializer 'W': external data file '.*\/fifo': it is a FIFO \(named pipe\); only regular files are read$/],
      [join(folder, 'fifo'), /^backpack-ts: error: cannot read '.*\/fifo': it is a FIFO \(named pipe\); only regular files are read$/],
    ] as const) {
      const run = spawnSync(process.execPath, [cli, 'quantities', model, '--input', 'X.json', '--target', 'y.json', '--loss', 'MSELoss', '--extensions', 'BatchGrad'], {
        cwd: join(here, '..', '..', '..'),
        env: { ...process.env, INIT_CWD: folder },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.error, 'the command did not finish within 30 s').toBeUndefined();
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr.trim()).toMatch(expected);
    }
  });
});
