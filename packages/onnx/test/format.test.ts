/**
 * Malformed files end in a clear error, never a hang or a crash: the
 * protobuf decoder on truncated, corrupted and foreign bytes, and the tensor
 * file readers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import { goldenDir } from '@backpack-ts/conformance';
import { describe, expect, it } from 'vitest';
import { OnnxFormatError, decodeModel, importOnnx, isUserError, parseJsonTensor, parseNpy } from '../src/index.js';
import { ProtoReader } from '../src/proto/wire.js';
import { buildModel, init } from './helpers/onnx-builder.js';
import { npyBytes } from './helpers/npy.js';

const seedLinear = (): Uint8Array => readFileSync(join(goldenDir()!, 'onnx', 'seed_linear.onnx'));

function importError(bytes: Uint8Array): unknown {
  try {
    importOnnx(bytes, { backend: cpu });
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('the protobuf decoder', () => {
  it('reads varints, negative int64 and packed or unpacked repeated fields', () => {
    const r = new ProtoReader(Uint8Array.from([0x96, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(r.varint()).toBe(150);
    expect(r.int64()).toBe(-1);
    expect(r.done).toBe(true);
    const model = decodeModel(
      buildModel({
        inputs: [{ name: 'x', dims: ['N', 2] }],
        outputs: [{ name: 'y', dims: ['N', 2] }],
        initializers: [{ ...init('typed', [2, 2], 1), typed: true }],
        nodes: [{ op: 'Gemm', inputs: ['x', 'typed'], outputs: ['y'], attrs: { transB: 1, alpha: { f: 0.5 }, pads: [-1, 2] } }],
      }),
    );
    const node = model.graph!.node[0]!;
    expect(node.attribute.find((a) => a.name === 'pads')!.ints).toEqual([-1, 2]);
    expect(node.attribute.find((a) => a.name === 'alpha')!.f).toBe(0.5);
    expect(model.graph!.initializer[0]!.floatData).toHaveLength(4);
    expect(model.graph!.input[0]!.shape).toEqual([{ param: 'N' }, { value: 2 }]);
  });

  it('refuses every truncation of a real model with a clear error', () => {
    const bytes = seedLinear();
    const messages = new Set<string>();
    for (let cut = 0; cut < bytes.length; cut += 5) {
      const error = importError(bytes.subarray(0, cut));
      expect(error, `cut at ${cut}`).toBeDefined();
      expect(isUserError(error), `cut at ${cut}: ${String(error)}`).toBe(true);
      messages.add((error as Error).message.replace(/\d+/g, '#'));
    }
    expect([...messages].join('\n')).toMatch(/truncated/);
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 3))).toThrow(OnnxFormatError);
    expect(() => decodeModel(bytes.subarray(0, 1500))).toThrow(/GraphProto|TensorProto|truncated/);
  });

  it('survives corrupted bytes: either an import or a clear error', () => {
    const bytes = seedLinear();
    let state = 12345;
    for (let trial = 0; trial < 300; trial++) {
      const corrupted = Uint8Array.from(bytes);
      for (let k = 0; k < 3; k++) {
        state = (state * 1103515245 + 12345) % 2147483648;
        corrupted[state % corrupted.length] = state & 0xff;
      }
      const error = importError(corrupted);
      if (error !== undefined) expect(isUserError(error), String((error as Error).stack)).toBe(true);
    }
  });

  it('refuses files that are not ONNX models', () => {
    expect(() => importOnnx(new Uint8Array(0), { backend: cpu })).toThrow('the file is empty');
    expect(() => importOnnx(new TextEncoder().encode('{"shape": [2], "data": [1, 2]}'), { backend: cpu })).toThrow(OnnxFormatError);
    expect(() => importOnnx(Uint8Array.from([0x08, 0x07]), { backend: cpu })).toThrow('not an ONNX model: no graph found in 2 bytes');
    expect(() => importOnnx(Uint8Array.from([0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]), { backend: cpu })).toThrow(/truncated/);
    expect(() => importOnnx(Uint8Array.from(new Array(12).fill(0xff)), { backend: cpu })).toThrow(/varint longer than 10 bytes|invalid wire type/);
    expect(() => importOnnx('/no/such/model.onnx', { backend: cpu })).toThrow("cannot read '/no/such/model.onnx': no such file");
  });
});

describe('tensor files', () => {
  it('reads JSON tensors, flat or nested', () => {
    expect(parseJsonTensor('{"shape": [2, 2], "data": [1, 2, 3, 4]}')).toMatchObject({ shape: [2, 2], integer: true });
    expect(parseJsonTensor('{"data": [[1.5, 2], [3, 4]]}')).toMatchObject({ shape: [2, 2], integer: false });
    expect(parseJsonTensor('[[1], [2], [3]]').shape).toEqual([3, 1]);
    expect(() => parseJsonTensor('{"shape": [3], "data": [1, 2]}', 'X.json')).toThrow('X.json: 2 values do not fill shape [3] (3 elements)');
    expect(() => parseJsonTensor('{"shape": [2], "data": [1, "a"]}', 'X.json')).toThrow('X.json: data[1] is "a", not a number');
    expect(() => parseJsonTensor('{"shape": [2], "da', 'X.json')).toThrow(/X.json: not valid JSON/);
  });

  it('reads .npy files (float32, float64, int64, either byte order) and refuses the rest', () => {
    expect(Array.from(parseNpy(npyBytes('<f4', [2, 2], [1, 2.5, 3, 4])).data)).toEqual([1, 2.5, 3, 4]);
    expect(parseNpy(npyBytes('<f8', [3], [0.1, 0.2, 0.3]))).toMatchObject({ shape: [3], integer: false });
    expect(Array.from(parseNpy(npyBytes('>f8', [2], [0.1, -7])).data)).toEqual([0.1, -7]);
    expect(parseNpy(npyBytes('<i8', [2], [3, -1]))).toMatchObject({ shape: [2], integer: true, data: Float64Array.of(3, -1) });
    expect(() => parseNpy(npyBytes('<f4', [2, 2], [1, 2, 3, 4], true), 'X.npy')).toThrow('X.npy: Fortran order is not supported');
    expect(() => parseNpy(npyBytes('<u2', [2], [1, 2]), 'X.npy')).toThrow("X.npy: dtype '<u2' is not supported");
    expect(() => parseNpy(npyBytes('<f8', [4], [1, 2, 3, 4]).subarray(0, 140), 'X.npy')).toThrow(/X.npy: truncated data/);
    expect(() => parseNpy(Uint8Array.from([1, 2, 3]), 'X.npy')).toThrow('X.npy: not a .npy file');
  });
});
