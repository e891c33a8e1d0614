/**
 * Small files that would make the import allocate gigabytes, attribute
 * values out of range, int64 values beyond 2^53, deeply nested protobuf and
 * names that JavaScript objects hold themselves: each ends in a UserError
 * that names the node, the value and the allowed range (or imports
 * correctly), never in an internal error or a silent wrong answer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import { tensor } from '@backpack-ts/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  OnnxFormatError,
  OnnxImportError,
  OnnxMemoryLimitError,
  UserError,
  decodeModel,
  defaultMemoryLimitBytes,
  importOnnx,
  type ImportOptions,
} from '../src/index.js';
import { formatBytes } from '../src/import/memory-budget.js';
import { importAndVerify } from './helpers/check.js';
import { INT64, buildModel, init, type ModelSpec, type NodeSpec } from './helpers/onnx-builder.js';

const GiB = 1024 ** 3;
const int64 = (name: string, vals: number[], dims: number[] = [vals.length]) => ({ name, dims, values: vals, dataType: INT64 });

function importError(bytes: Uint8Array, options: ImportOptions = {}): Error {
  try {
    importOnnx(bytes, { backend: cpu, ...options });
  } catch (error) {
    return error as Error;
  }
  throw new Error('the import did not fail');
}

/** A 2-d convolution of `[N, 1, 4, 4]` with a 2 × 2 kernel and these attributes. */
function conv(attrs: NodeSpec['attrs']): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', dims: ['N', 1, 4, 4] }],
    outputs: [{ name: 'y' }],
    initializers: [init('w', [1, 1, 2, 2], 1)],
    nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: 'conv', ...(attrs !== undefined && { attrs }) }],
  });
}

describe('the memory limit', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("defaults to half of the machine's memory", () => {
    // Node 20 says "no limit" with 0, undefined or, on some cgroup setups, 2^64.
    for (const unconstrained of [0, undefined, 2 ** 64]) {
      vi.spyOn(process, 'constrainedMemory').mockReturnValue(unconstrained as number);
      expect(defaultMemoryLimitBytes()).toBe(Math.floor(totalmem() / 2));
    }
  });

  it("defaults to half of the container's memory where that is less than the machine's", () => {
    const container = Math.floor(totalmem() / 3);
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(container);
    expect(defaultMemoryLimitBytes()).toBe(Math.floor(container / 2));
  });

  it("defaults to 2 GiB where Node's os module is not available (a browser bundle)", () => {
    vi.spyOn(process, 'getBuiltinModule').mockReturnValue(undefined as never);
    expect(defaultMemoryLimitBytes()).toBe(2 * GiB);
  });

  it('prints sizes in binary units, three significant digits', () => {
    expect([0, 1000, 1024, 1536, 8e9, 2 ** 40, 20_000_000].map(formatBytes)).toEqual(['0 bytes', '1000 bytes', '1 KiB', '1.5 KiB', '7.45 GiB', '1 TiB', '19.1 MiB']);
  });

  it('refuses a convolution with pads of 3000 in a tiny file before it runs', () => {
    const bytes = conv({ pads: [3000, 3000, 3000, 3000] });
    expect(bytes.length).toBeLessThan(300);
    const error = importError(bytes, { memoryLimitBytes: GiB });
    expect(error).toBeInstanceOf(OnnxMemoryLimitError);
    // The trace batch is 2; the output alone is [2, 1, 6003, 6003] float64.
    expect((error as OnnxMemoryLimitError).estimateBytes).toBeGreaterThan(2 * 6003 * 6003 * 8);
    expect((error as OnnxMemoryLimitError).limitBytes).toBe(GiB);
    expect(error.message).toMatch(
      /^ONNX node 'conv' \(op Conv\) as Conv2d on \[2, 1, 4, 4\] needs about [\d.]+ GiB \(on top of the [\d.]+ \w+ the import already holds\), more than the import's memory limit of 1 GiB \(1073741824 bytes\)\. Check the node's attributes \(pads, strides, dilations, kernel_shape\) and the input's shape \(the import runs the model on a batch of 2\); or raise the limit \(memoryLimitBytes, the CLI's --memory-limit\)/,
    );
    // Under a limit that fits, the same model imports.
    expect(() => importOnnx(conv({ pads: [30, 30, 30, 30] }), { backend: cpu, memoryLimitBytes: GiB })).not.toThrow();
  });

  it('refuses a transposed convolution with a huge stride', () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 1, 4, 4] }],
      outputs: [{ name: 'y' }],
      initializers: [init('w', [1, 1, 2, 2], 1)],
      nodes: [{ op: 'ConvTranspose', inputs: ['x', 'w'], outputs: ['y'], name: 'up', attrs: { strides: [100000, 100000] } }],
    });
    expect(importError(bytes, { memoryLimitBytes: GiB })).toBeInstanceOf(OnnxMemoryLimitError);
  });

  it('refuses a constant broadcast to 5e8 elements before computing it', () => {
    const axis = (name: string, a: number) => init(name, [0, 1, 2, 3].map((d) => (d === a ? 150 : 1)), a + 1);
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y' }],
      initializers: [axis('a', 0), axis('b', 1), axis('c', 2), axis('d', 3)],
      nodes: [
        { op: 'Sum', inputs: ['a', 'b', 'c', 'd'], outputs: ['s'], name: 'sum' },
        { op: 'Add', inputs: ['x', 's'], outputs: ['y'], name: 'add' },
      ],
    });
    const error = importError(bytes, { memoryLimitBytes: GiB });
    expect(error).toBeInstanceOf(OnnxMemoryLimitError);
    expect(error.message).toMatch(/^ONNX node 'sum' \(op Sum\): the constant \[150, 150, 150, 150\] it computes at import needs about 3.77 GiB/);
  });

  it('refuses the trace of a huge declared batch, saying what to change', () => {
    const relu = (batch: number, features: number) =>
      buildModel({ inputs: [{ name: 'x', dims: [batch, features] }], outputs: [{ name: 'y' }], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] });
    const error = importError(relu(100_000_000, 1000));
    expect(error).toBeInstanceOf(OnnxMemoryLimitError);
    expect(error.message).toMatch(
      /^the import's trace input \[100000000, 1000\] needs about 745 GiB, .*The import runs the model once on a batch of the declared batch size 100000000; export the model with a symbolic batch dimension/,
    );
    expect(importError(relu(1e12, 4)).message).toBe("input 'x' declares a batch size of 1000000000000; the batch dimension must be an integer in [0, 2147483647]");
  });

  it('reserves an initializer before reading its external data', () => {
    const bytes = buildModel({
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'W', dims: [100000, 100000], values: [], external: [['location', 'W.bin']] }],
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    });
    expect(importError(bytes).message).toMatch(/^initializer 'W' \[100000, 100000\] needs about 112 GiB/);
  });

  it('takes only a positive number of bytes', () => {
    for (const limit of [0, -1, NaN, Infinity]) {
      const error = importError(conv(undefined), { memoryLimitBytes: limit });
      expect(error).toBeInstanceOf(UserError);
      expect(error.message).toBe(`memoryLimitBytes must be a positive number of bytes, got ${limit}`);
    }
  });
});

describe('attribute values', () => {
  it('must be integers in range, named with the node and attribute', () => {
    const cases: [NodeSpec['attrs'], string][] = [
      [{ pads: [-1, 0, 0, 0] }, "attribute 'pads' [-1, 0, 0, 0] holds -1, but each entry must be an integer in [0, 2147483647]"],
      [{ strides: [0, 1] }, "attribute 'strides' [0, 1] holds 0, but each entry must be an integer in [1, 2147483647]"],
      [{ dilations: [1, 2 ** 31] }, "attribute 'dilations' [1, 2147483648] holds 2147483648, but each entry must be an integer in [1, 2147483647]"],
      [{ kernel_shape: [-2, 2] }, "attribute 'kernel_shape' [-2, 2] holds -2, but each entry must be an integer in [0, 2147483647]"],
      [{ group: 0 }, "attribute 'group' is 0, but must be an integer in [1, 2147483647]"],
      [
        { pads: [2 ** 60, 0, 0, 0] },
        "attribute 'pads' [1.152922e+18 (beyond 2^53), 0, 0, 0] holds 1.152922e+18 (beyond 2^53), but each entry must be an integer in [0, 2147483647]",
      ],
    ];
    for (const [attrs, message] of cases) {
      const error = importError(conv(attrs));
      expect(error).toBeInstanceOf(OnnxImportError);
      expect(error.message).toBe(`ONNX node 'conv' (op Conv): ${message}`);
    }
  });

  it('int64 values beyond 2^53 in initializers: refused as sizes, clamped as slice ends', async () => {
    const reshape = buildModel({
      inputs: [{ name: 'x', dims: ['N', 2, 3] }],
      outputs: [{ name: 'y' }],
      initializers: [int64('shape', [2 ** 60, -1])],
      nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'], name: 'reshape' }],
    });
    expect(importError(reshape).message).toBe(
      "ONNX node 'reshape' (op Reshape): the target shape [1.152922e+18 (beyond 2^53), -1] holds 1.152922e+18 (beyond 2^53), but each entry must be an integer in [-1, 2147483647]",
    );
    const dims = buildModel({
      inputs: [{ name: 'x', dims: ['N', 4] }],
      outputs: [{ name: 'y' }],
      initializers: [{ name: 'W', dims: [2 ** 60, 4], values: [] }],
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    });
    expect(importError(dims).message).toBe(
      "initializer 'W': dimension 0 of shape [1.152922e+18 (beyond 2^53), 4] is 1.152922e+18 (beyond 2^53); each dimension must be an integer in [0, 2147483647]",
    );
    // Slicing to 2^62 ("to the end") takes the whole axis.
    const slice = buildModel({
      inputs: [{ name: 'x', dims: ['N', 8] }],
      outputs: [{ name: 'y', dims: ['N', 3] }],
      initializers: [init('W', [3, 8], 1), int64('starts', [0]), int64('ends', [2 ** 62]), int64('axes', [1])],
      nodes: [
        { op: 'Slice', inputs: ['W', 'starts', 'ends', 'axes'], outputs: ['Ws'], name: 'slice' },
        { op: 'Gemm', inputs: ['x', 'Ws'], outputs: ['y'], name: 'fc', attrs: { transB: 1 } },
      ],
    });
    const model = await importAndVerify(slice);
    expect(model.namedParameters().map(([, p]) => p.data.shape)).toEqual([[3, 8]]);
  });
});

/** A model whose graph field holds nested length-delimited fields `depth` deep, with keys `tags[i % tags.length]`. */
function nested(tags: readonly number[], depth: number): Uint8Array {
  const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
  const lengths = new Array<number>(depth + 1).fill(0);
  for (let i = depth - 1; i >= 0; i--) lengths[i] = 1 + varintSize(lengths[i + 1]!) + lengths[i + 1]!;
  // ir_version 7, then ModelProto.graph.
  const out: number[] = [0x08, 0x07, 0x3a, ...varint(lengths[0]!)];
  for (let i = 0; i < depth; i++) {
    out.push(tags[i % tags.length]!, ...varint(lengths[i + 1]!));
  }
  return Uint8Array.from(out);
}

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}


describe('deeply nested protobuf', () => {
  it('refuses 100,000 nested messages (graph, node, attribute, graph, ...)', () => {
    // GraphProto.node, NodeProto.attribute, AttributeProto.g, over and over.
    const bytes = nested([0x0a, 0x2a, 0x32], 100_000);
    expect(() => decodeModel(bytes)).toThrow(OnnxFormatError);
    expect(() => decodeModel(bytes)).toThrow(/is nested more than 100 levels deep: the file is corrupted/);
  });

  it('names the file in format errors', () => {
    const folder = mkdtempSync(join(tmpdir(), 'backpack-onnx-limits-'));
    const path = join(folder, 'deep.onnx');
    writeFileSync(path, nested([0x0a, 0x2a, 0x32], 1000));
    try {
      const error = (() => {
        try {
          importOnnx(path, { backend: cpu });
        } catch (caught) {
          return caught as Error;
        }
        throw new Error('the import did not fail');
      })();
      expect(error).toBeInstanceOf(OnnxFormatError);
      expect(error.message.startsWith(`${path}: `)).toBe(true);
      expect(error.message).toMatch(/Proto is nested more than 100 levels deep: the file is corrupted/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses 100,000 nested groups in an unknown field', () => {
    const bytes = [0x08, 0x07];
    // Field 100: start group (key 803), end group (key 804).
    for (let i = 0; i < 100_000; i++) bytes.push(0xa3, 0x06);
    for (let i = 0; i < 100_000; i++) bytes.push(0xa4, 0x06);
    const error = importError(Uint8Array.from(bytes));
    expect(error).toBeInstanceOf(OnnxFormatError);
    expect(error.message).toMatch(/^ModelProto: groups nested more than 100 levels deep \(the file is corrupted\) at byte \d+$/);
  });
});

describe("names that are JavaScript's own", () => {
  const NAMES = ['__proto__', 'constructor', 'toString'] as const;

  it('are plain names for inputs, initializers, nodes and values', async () => {
    for (const input of NAMES) {
      const [first, second] = NAMES.filter((n) => n !== input) as [string, string];
      const spec: ModelSpec = {
        inputs: [{ name: input, dims: ['N', 4] }],
        outputs: [{ name: 'isPrototypeOf', dims: ['N', 2] }],
        initializers: [init(first, [3, 4], 1), init('toString.bias', [3], 2), init(second, [2, 3], 3)],
        nodes: [
          { op: 'Gemm', inputs: [input, first, 'toString.bias'], outputs: ['hasOwnProperty'], name: '__proto__', attrs: { transB: 1 } },
          { op: 'Relu', inputs: ['hasOwnProperty'], outputs: ['valueOf'], name: 'constructor' },
          { op: 'Gemm', inputs: ['valueOf', second], outputs: ['isPrototypeOf'], name: 'toString', attrs: { transB: 1 } },
        ],
      };
      const model = await importAndVerify(buildModel(spec));
      expect(model.input.name).toBe(input);
      expect(model.namedParameters().map(([name, p]) => [name, p.data.shape])).toEqual([
        [first, [3, 4]],
        ['toString.bias', [3]],
        [second, [2, 3]],
      ]);
      expect(model.source(first)).toMatchObject({ initializer: first, onnxShape: [3, 4] });
      model.loadStateDict(Object.fromEntries([[first, tensor(new Array(12).fill(1), [3, 4], { backend: cpu })]]));
      expect(Array.from(new Map(model.namedParameters()).get(first)!.data.toArray())).toEqual(new Array(12).fill(1));
    }
  });

  it('are not operators', () => {
    for (const op of [...NAMES, 'hasOwnProperty']) {
      const bytes = buildModel({ inputs: [{ name: 'x', dims: ['N', 4] }], outputs: [{ name: 'y' }], nodes: [{ op, inputs: ['x'], outputs: ['y'], name: 'n' }] });
      expect(importError(bytes).message).toMatch(new RegExp(`^ONNX node 'n' \\(op ${op}\\) is not supported\\. Supported operators: Gemm,`));
    }
  });
});
