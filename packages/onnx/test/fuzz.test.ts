/**
 * A bounded fuzz test: seeded random byte changes and truncations of every
 * golden ONNX file. Each copy either imports or is refused with a
 * `UserError`; any other error (a TypeError, a RangeError, a stack
 * overflow) is a bug. The memory limit keeps each attempt small, so the
 * whole run takes seconds.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import { goldenDir } from '@backpack-ts/conformance';
import { describe, expect, it } from 'vitest';
import { importOnnx, isUserError } from '../src/index.js';

/** Mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CORRUPTED_PER_FILE = 30;
const TRUNCATED_PER_FILE = 8;

/** The outcome of importing `bytes`: undefined when it imports, else the error. */
function outcome(bytes: Uint8Array): unknown {
  try {
    importOnnx(bytes, { backend: cpu, memoryLimitBytes: 64 * 1024 ** 2 });
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('fuzzed golden ONNX files', () => {
  const folder = join(goldenDir()!, 'onnx');
  const files = readdirSync(folder).filter((f) => f.endsWith('.onnx')).sort();

  it('finds the golden files', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files)('%s: every corrupted or truncated copy imports or ends in a UserError', (file) => {
    const original = readFileSync(join(folder, file));
    const random = generator([...file].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7));
    const copies: { what: string; bytes: Uint8Array }[] = [];
    for (let k = 0; k < CORRUPTED_PER_FILE; k++) {
      const bytes = Uint8Array.from(original);
      const changes: string[] = [];
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) {
        const at = Math.floor(random() * bytes.length);
        // Half the changes flip one bit, half write a random byte.
        bytes[at] = random() < 0.5 ? bytes[at]! ^ (1 << Math.floor(random() * 8)) : Math.floor(random() * 256);
        changes.push(`byte ${at} = ${bytes[at]}`);
      }
      copies.push({ what: changes.join(', '), bytes });
    }
    for (let k = 0; k < TRUNCATED_PER_FILE; k++) {
      const length = Math.floor(random() * original.length);
      copies.push({ what: `truncated to ${length} bytes`, bytes: original.subarray(0, length) });
    }
    for (const { what, bytes } of copies) {
      const error = outcome(bytes);
      if (error !== undefined && !isUserError(error)) {
        expect.fail(`${file} with ${what}: ${(error as Error)?.stack ?? String(error)}`);
      }
    }
  });
});
