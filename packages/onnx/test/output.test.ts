/**
 * The result writers of the CLI (src/cli/output.ts): JSON streamed in chunks
 * (a result of more than 1 GB, whose JSON is longer than the longest string
 * JavaScript has), npz and npy folders read back by an independent reader
 * and by numpy, ZIP64 past 65535 members and past 4 GB, and atomic writes
 * that leave a previous result as it was when writing fails.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveOutputFormat, writeResult, writeResultJson, writeResultNpz, type ByteSink, type OutputFileSystem } from '../src/cli/output.js';
import { nullRecord, parseJsonTensor, parseNpy, type QuantitiesResult, type ResultQuantity, type ResultTensor } from '../src/index.js';
import { memberBytes, readNpyFloat64, readZipDirectory, type ReadAt } from './helpers/zip-reader.js';

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'backpack-onnx-output-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

/** Runs python3 with numpy on `script` (argv[1] is `arg`) and returns its standard output. */
function python(script: string, arg: string): string {
  const r = spawnSync('python3', ['-c', script, arg], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout;
}

function t(shape: number[], values: number[]): ResultTensor {
  return { shape, data: Float64Array.from(values) };
}

/** A small result with awkward names and every non-finite value. */
function sampleResult(): QuantitiesResult {
  const grad = nullRecord<ResultQuantity>();
  grad['__proto__'] = t([2], [1.5, -2]);
  grad['dense/kernel:0'] = t([2, 2], [NaN, Infinity, -Infinity, -0]);
  const kflr = nullRecord<ResultQuantity>();
  kflr['__proto__'] = [t([1, 1], [4]), t([2, 2], [1, 0, 0, 1e-300])];
  const quantities = nullRecord<Record<string, ResultQuantity>>();
  quantities['grad'] = grad;
  quantities['KFLR'] = kflr;
  return { loss: NaN, output: t([2, 3], [0.1, 0.2, 0.3, 1e300, -5e-324, 7]), quantities };
}

const fileRead =
  (bytes: Uint8Array): ReadAt =>
  (position, length) =>
    bytes.subarray(position, position + length);

describe('JSON output', () => {
  it('writes NaN and ±Infinity as strings that the tensor reader reads back, and keeps every other number', () => {
    let text = '';
    writeResultJson(sampleResult(), (chunk) => (text += chunk));
    const parsed = JSON.parse(text) as { loss: unknown; output: unknown; quantities: Record<string, Record<string, unknown>> };
    expect(parsed.loss).toBe('NaN');
    expect(Object.keys(parsed.quantities['grad']!)).toEqual(['__proto__', 'dense/kernel:0']);
    const kernel = parseJsonTensor(JSON.stringify(parsed.quantities['grad']!['dense/kernel:0']), 'result.json');
    expect(Array.from(kernel.data)).toEqual([NaN, Infinity, -Infinity, 0]);
    expect(Array.from(parseJsonTensor(JSON.stringify(parsed.output)).data)).toEqual([0.1, 0.2, 0.3, 1e300, -5e-324, 7]);
    expect(parsed.quantities['KFLR']!['__proto__']).toEqual([
      { shape: [1, 1], data: [4] },
      { shape: [2, 2], data: [1, 0, 0, 1e-300] },
    ]);
  });

  it('streams a result of more than 1 GB to a file (JSON longer than the longest string), in chunks', () => {
    const n = 135_000_000; // 1.08 GB of float64; 5 characters each in JSON: 675 MB of text, past 2^29 characters
    const data = new Float64Array(n);
    for (let i = 0; i < 9000; i++) data[i] = 1000 + i;
    for (let filled = 9000; filled < n; filled *= 2) data.copyWithin(filled, 0, Math.min(filled, n - filled));
    const result: QuantitiesResult = { loss: 0.5, output: { shape: [n], data }, quantities: nullRecord() };
    const path = join(work, 'big.json');
    let largestChunk = 0;
    const spy: OutputFileSystem = {
      ...fs,
      writeSync: ((fd: number, buffer: Uint8Array, offset: number, length: number) => {
        largestChunk = Math.max(largestChunk, length);
        return fs.writeSync(fd, buffer, offset, length);
      }) as typeof fs.writeSync,
    };
    try {
      writeResult(result, path, 'json', spy);
      const head = `{"loss":0.5,"output":{"shape":[${n}],"data":[`;
      const tail = ']},"quantities":{}}';
      const size = fs.statSync(path).size;
      expect(size).toBe(head.length + 5 * n - 1 + tail.length);
      expect(size).toBeGreaterThan(2 ** 29);
      expect(largestChunk).toBeLessThanOrEqual(2 ** 20);
      const fd = fs.openSync(path, 'r');
      const read = (position: number, length: number) => {
        const b = Buffer.alloc(length);
        fs.readSync(fd, b, 0, length, position);
        return b.toString('latin1');
      };
      try {
        expect(read(0, head.length)).toBe(head);
        expect(read(size - tail.length - 5, tail.length + 5)).toBe(`,${1000 + ((n - 1) % 9000)}${tail}`);
        for (let s = 0; s < 1000; s++) {
          const i = Math.floor((s * 2654435761) % n);
          expect(read(head.length + 5 * i, 5)).toBe(`${1000 + (i % 9000)}${i === n - 1 ? ']' : ','}`);
        }
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      fs.rmSync(path, { force: true });
    }
  }, 60_000);
});

describe('npz and npy-dir output', () => {
  it('writes an npz that an independent reader reads back exactly, with names percent-encoded and an index', () => {
    const path = join(work, 'r.npz');
    writeResult(sampleResult(), path, 'npz');
    const bytes = fs.readFileSync(path);
    const { members, zip64End } = readZipDirectory(fileRead(bytes), bytes.length);
    expect(zip64End).toBe(false);
    expect(members.map((m) => m.name)).toEqual([
      'loss.npy',
      'output.npy',
      'grad/__proto__.npy',
      'grad/dense%2Fkernel%3A0.npy',
      'KFLR/__proto__.0.npy',
      'KFLR/__proto__.1.npy',
      'index.json',
    ]);
    const array = (name: string) => readNpyFloat64(memberBytes(fileRead(bytes), members.find((m) => m.name === name)!));
    expect(array('loss.npy').shape).toEqual([]);
    expect(array('loss.npy').data[0]).toBeNaN();
    const kernel = array('grad/dense%2Fkernel%3A0.npy');
    expect(kernel.shape).toEqual([2, 2]);
    expect(Array.from(kernel.data)).toEqual([NaN, Infinity, -Infinity, -0]);
    expect(Object.is(kernel.data[3], -0)).toBe(true);
    expect(Array.from(array('output.npy').data)).toEqual([0.1, 0.2, 0.3, 1e300, -5e-324, 7]);
    expect(Array.from(array('KFLR/__proto__.1.npy').data)).toEqual([1, 0, 0, 1e-300]);
    // The repository's own .npy reader reads them too.
    expect(parseNpy(memberBytes(fileRead(bytes), members[1]!)).shape).toEqual([2, 3]);
    const index = JSON.parse(new TextDecoder().decode(memberBytes(fileRead(bytes), members.at(-1)!))) as {
      loss: unknown;
      quantities: Record<string, Record<string, unknown>>;
    };
    expect(index.loss).toBe('NaN');
    expect(index.quantities['grad']!['dense/kernel:0']).toEqual({ file: 'grad/dense%2Fkernel%3A0.npy', shape: [2, 2], dtype: 'float64' });
    expect(index.quantities['KFLR']!['__proto__']).toEqual([
      { file: 'KFLR/__proto__.0.npy', shape: [1, 1], dtype: 'float64' },
      { file: 'KFLR/__proto__.1.npy', shape: [2, 2], dtype: 'float64' },
    ]);
  });

  it.skipIf(!numpy)('numpy reads the npz and the npy folder (skipped where python3 has no numpy)', () => {
    const npz = join(work, 'n.npz');
    const folder = join(work, 'n-folder');
    writeResult(sampleResult(), npz, 'npz');
    writeResult(sampleResult(), folder, 'npy-dir');
    const out = python(
      [
        'import sys, json, numpy as np',
        'f = np.load(sys.argv[1])',
        'k = f["grad/dense%2Fkernel%3A0"]',
        'print(sorted(f.files))',
        'print(k.dtype, k.shape, np.isnan(k[0,0]), k[0,1], k[1,0], np.signbit(k[1,1]), float(f["loss"]), f["output"].tolist(), f["KFLR/__proto__.1"].tolist())',
      ].join('\n'),
      npz,
    );
    expect(out.split('\n')[0]).toBe("['KFLR/__proto__.0', 'KFLR/__proto__.1', 'grad/__proto__', 'grad/dense%2Fkernel%3A0', 'index.json', 'loss', 'output']");
    expect(out.split('\n')[1]).toBe('float64 (2, 2) True inf -inf True nan [[0.1, 0.2, 0.3], [1e+300, -5e-324, 7.0]] [[1.0, 0.0], [0.0, 1e-300]]');
    const dir = python(
      [
        'import sys, os, json, numpy as np',
        'index = json.load(open(os.path.join(sys.argv[1], "index.json")))',
        'entry = index["quantities"]["grad"]["dense/kernel:0"]',
        'a = np.load(os.path.join(sys.argv[1], entry["file"]))',
        'print(index["loss"], a.shape, a[0, 1], np.load(os.path.join(sys.argv[1], index["quantities"]["KFLR"]["__proto__"][0]["file"])).tolist())',
      ].join('\n'),
      folder,
    );
    expect(dir.trim()).toBe('NaN (2, 2) inf [[4.0]]');
  });

  it('writes ZIP64 end records for more than 65535 members, which the independent reader and numpy read', () => {
    const grad = nullRecord<ResultQuantity>();
    for (let i = 0; i < 70_000; i++) grad[`p${i}`] = t([1], [i]);
    const quantities = nullRecord<Record<string, ResultQuantity>>();
    quantities['grad'] = grad;
    const path = join(work, 'many.npz');
    writeResult({ loss: 1, output: t([1], [2]), quantities }, path, 'npz');
    const bytes = fs.readFileSync(path);
    const { members, zip64End } = readZipDirectory(fileRead(bytes), bytes.length);
    expect(zip64End).toBe(true);
    expect(members).toHaveLength(70_003);
    const last = members.find((m) => m.name === 'grad/p69999.npy')!;
    expect(Array.from(readNpyFloat64(memberBytes(fileRead(bytes), last)).data)).toEqual([69999]);
    if (numpy) {
      expect(python('import sys, numpy as np\nf = np.load(sys.argv[1])\nprint(len(f.files), float(f["grad/p69999"][0]))', path).trim()).toBe('70003 69999.0');
    }
  }, 60_000);

  it('writes ZIP64 sizes and offsets for members larger than 4 GB and past 4 GB (on a sink that keeps the headers only)', () => {
    // Zero-filled arrays that are never written to take no memory; the sink keeps only the small writes.
    const big = new Float64Array(600_000_000); // 4.8 GB
    big[big.length - 1] = 3;
    const grad = nullRecord<ResultQuantity>();
    grad['w'] = { shape: [big.length], data: big };
    grad['b'] = t([2], [5, 6]);
    const quantities = nullRecord<Record<string, ResultQuantity>>();
    quantities['grad'] = grad;
    const kept: { at: number; bytes: Uint8Array }[] = [];
    let skipped = 0;
    const sink: ByteSink & { position: number } = {
      position: 0,
      bytes(data: Uint8Array) {
        if (data.length <= 1 << 20) kept.push({ at: this.position, bytes: data.slice() });
        else skipped += data.length;
        this.position += data.length;
      },
    };
    writeResultNpz({ loss: 1, output: t([1], [2]), quantities }, sink);
    expect(skipped).toBe(big.byteLength);
    const read: ReadAt = (position, length) => {
      const out = new Uint8Array(length);
      for (const { at, bytes } of kept) {
        const from = Math.max(position, at);
        const to = Math.min(position + length, at + bytes.length);
        if (from < to) out.set(bytes.subarray(from - at, to - at), from - position);
      }
      return out;
    };
    const { members } = readZipDirectory(read, sink.position);
    const w = members.find((m) => m.name === 'grad/w.npy')!;
    const b = members.find((m) => m.name === 'grad/b.npy')!;
    expect(w.zip64).toBe(true);
    expect(w.size).toBe(128 + big.byteLength);
    expect(b.zip64).toBe(true);
    expect(b.dataOffset).toBeGreaterThan(2 ** 32);
    expect(Array.from(readNpyFloat64(memberBytes(read, b)).data)).toEqual([5, 6]);
    // The CRC of the large member: zeros, then the last value 3.
    let crc = crc32(read(w.dataOffset, 128));
    const zeros = new Uint8Array(2 ** 26);
    for (let left = big.byteLength - 8; left > 0; left -= zeros.length) crc = crc32(zeros.subarray(0, Math.min(left, zeros.length)), crc);
    crc = crc32(new Uint8Array(Float64Array.of(3).buffer), crc);
    expect(crc >>> 0).toBe(w.crc);
  }, 60_000);

  it('infers the format from --out, or takes --format', () => {
    expect(resolveOutputFormat(undefined, undefined)).toBe('json');
    expect(resolveOutputFormat('r.NPZ', undefined)).toBe('npz');
    expect(resolveOutputFormat('out/', undefined)).toBe('npy-dir');
    expect(resolveOutputFormat(work, undefined)).toBe('npy-dir');
    expect(resolveOutputFormat('r.bin', 'npz')).toBe('npz');
    expect(() => resolveOutputFormat('r', 'hdf5')).toThrow("--format must be one of json, npz, npy-dir, got 'hdf5'");
    expect(() => resolveOutputFormat('r', 'constructor')).toThrow("--format must be one of json, npz, npy-dir, got 'constructor'");
    expect(() => resolveOutputFormat(undefined, 'npz')).toThrow('--format npz writes files: give --out <file.npz>');
  });
});

describe('atomic output', () => {
  /** node:fs, but writeSync fails with ENOSPC once `budget` bytes are written. */
  function diskFullAfter(budget: number): OutputFileSystem {
    let written = 0;
    return {
      ...fs,
      writeSync: ((fd: number, buffer: Uint8Array, offset: number, length: number) => {
        if (written + length > budget) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        written += length;
        return fs.writeSync(fd, buffer, offset, length);
      }) as typeof fs.writeSync,
    };
  }

  function bigResult(): QuantitiesResult {
    const grad = nullRecord<ResultQuantity>();
    grad['w'] = { shape: [1_000_000], data: new Float64Array(1_000_000).fill(0.25) };
    const quantities = nullRecord<Record<string, ResultQuantity>>();
    quantities['grad'] = grad;
    return { loss: 1, output: t([1], [1]), quantities };
  }

  it.each(['json', 'npz'] as const)('leaves the previous %s file as it was and no temporary file when the disk fills', (format) => {
    const folder = fs.mkdtempSync(join(work, `atomic-${format}-`));
    const path = join(folder, `result.${format}`);
    fs.writeFileSync(path, 'previous result');
    expect(() => writeResult(bigResult(), path, format, diskFullAfter(3_000_000))).toThrow(/ENOSPC/);
    expect(fs.readFileSync(path, 'utf8')).toBe('previous result');
    expect(fs.readdirSync(folder)).toEqual([`result.${format}`]);
    writeResult(bigResult(), path, format);
    expect(fs.statSync(path).size).toBeGreaterThan(1_000_000);
    expect(fs.readdirSync(folder)).toEqual([`result.${format}`]);
  });

  it('leaves the previous npy folder as it was when writing fails, and replaces it whole when writing succeeds', () => {
    const folder = fs.mkdtempSync(join(work, 'atomic-dir-'));
    const path = join(folder, 'result');
    fs.mkdirSync(path);
    fs.writeFileSync(join(path, 'index.json'), 'previous index');
    expect(() => writeResult(bigResult(), path, 'npy-dir', diskFullAfter(3_000_000))).toThrow(/ENOSPC/);
    expect(fs.readdirSync(path)).toEqual(['index.json']);
    expect(fs.readFileSync(join(path, 'index.json'), 'utf8')).toBe('previous index');
    expect(fs.readdirSync(folder)).toEqual(['result']);
    const failingRename: OutputFileSystem = {
      ...fs,
      renameSync: ((from: string, to: string) => {
        if (from.endsWith('.tmp')) throw new Error('EIO: rename failed');
        fs.renameSync(from, to);
      }) as typeof fs.renameSync,
    };
    expect(() => writeResult(bigResult(), path, 'npy-dir', failingRename)).toThrow(/EIO/);
    expect(fs.readFileSync(join(path, 'index.json'), 'utf8')).toBe('previous index');
    expect(fs.readdirSync(folder)).toEqual(['result']);
    writeResult(bigResult(), path, 'npy-dir');
    expect(fs.readdirSync(path).sort()).toEqual(['grad', 'index.json', 'loss.npy', 'output.npy']);
    expect(readNpyFloat64(fs.readFileSync(join(path, 'grad', 'w.npy'))).data[999_999]).toBe(0.25);
    expect(fs.readdirSync(folder)).toEqual(['result']);
  });
});
