/**
 * The tensor readers of the CLI (src/tensor-io.ts) on the inputs of
 * issue 12: the JSON spelling of NaN and ±Infinity, nesting deep enough to
 * overflow a recursive reader, int64 values a number cannot hold, and
 * names of Object's own properties as dtypes.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TENSOR_RANK, isUserError, jsonNumber, parseJsonTensor, parseNpy } from '../src/index.js';
import { npyBytes } from './helpers/npy.js';

describe('JSON tensors', () => {
  it('reads "NaN", "Infinity" and "-Infinity" as those numbers, flat and nested, and refuses other strings', () => {
    const flat = parseJsonTensor('{"shape": [4], "data": [1, "NaN", "Infinity", "-Infinity"]}', 'y.json');
    expect(Array.from(flat.data)).toEqual([1, NaN, Infinity, -Infinity]);
    expect(flat.integer).toBe(false);
    expect(Array.from(parseJsonTensor('[["NaN", 2], [3, "-Infinity"]]').data)).toEqual([NaN, 2, 3, -Infinity]);
    expect(() => parseJsonTensor('{"shape": [1], "data": ["nan"]}', 'y.json')).toThrow('y.json: data[0] is "nan", not a number (nor "NaN", "Infinity", "-Infinity")');
    expect(() => parseJsonTensor('{"shape": [1], "data": [null]}', 'y.json')).toThrow('y.json: data[0] is null, not a number');
  });

  it('writes numbers in the same convention (jsonNumber)', () => {
    expect([1.5, -0, NaN, Infinity, -Infinity, 1e-300].map(jsonNumber)).toEqual(['1.5', '0', '"NaN"', '"Infinity"', '"-Infinity"', '1e-300']);
    const text = `{"shape": [3], "data": [${[NaN, 2, -Infinity].map(jsonNumber).join(',')}]}`;
    expect(Array.from(parseJsonTensor(text).data)).toEqual([NaN, 2, -Infinity]);
  });

  it('refuses lists nested 100,000 deep with a user error naming the file and the limit (no stack overflow)', () => {
    const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    let error: unknown;
    try {
      parseJsonTensor(deep, 'X.json');
    } catch (e) {
      error = e;
    }
    expect(isUserError(error)).toBe(true);
    expect((error as Error).message).toBe(`X.json: lists nested deeper than ${MAX_TENSOR_RANK} levels (a tensor has at most ${MAX_TENSOR_RANK} dimensions)`);
    expect(() => parseJsonTensor(`{"data": ${deep}}`, 'X.json')).toThrow(/X.json: lists nested deeper than 64 levels/);
    const deepest = `${'['.repeat(MAX_TENSOR_RANK)}1${']'.repeat(MAX_TENSOR_RANK)}`;
    expect(parseJsonTensor(deepest).shape).toEqual(new Array(MAX_TENSOR_RANK).fill(1));
  });
});

describe('.npy tensors', () => {
  it('reads int64 values up to ±2^53 exactly and refuses larger ones, naming the file, value, index and range', () => {
    expect(Array.from(parseNpy(npyBytes('<i8', [2], [2 ** 53, -(2 ** 53)])).data)).toEqual([2 ** 53, -(2 ** 53)]);
    const bytes = npyBytes('<i8', [3], [0, 1, 0]);
    new DataView(bytes.buffer).setBigInt64(bytes.length - 16, 2n ** 53n + 1n, true);
    expect(() => parseNpy(bytes, 'y.npy')).toThrow(
      'y.npy: int64 value 9007199254740993 at index 1 is out of the range this reader holds exactly, [-2^53, 2^53] = [-9007199254740992, 9007199254740992]',
    );
  });

  it("refuses dtypes named like Object's properties", () => {
    for (const name of ['constructor', 'toString', '__proto__']) {
      const bytes = npyBytes(`<${name}` as '<u2', [1], [1]);
      expect(() => parseNpy(bytes, 'X.npy')).toThrow(`X.npy: dtype '<${name}' is not supported (float32, float64, int64 or int32 are)`);
    }
  });
});
