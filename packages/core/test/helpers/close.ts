import { expect } from 'vitest';
import type { Shape, Tensor } from '@backpack-ts/core';

/**
 * Asserts `actual` ≈ `expected` entrywise: |a - e| <= rtol * (|e| + scale),
 * where scale is the largest |e| (1 if all are 0). Relative to each entry and
 * to the size of the whole result, so entries that happen to be near 0 are
 * not held to an impossible standard.
 */
export function expectClose(
  actual: Tensor | ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  shape?: Shape,
): void {
  if (isTensor(actual) && shape !== undefined) expect(actual.shape).toEqual(shape);
  const a = isTensor(actual) ? actual.toArray() : actual;
  expect(a.length, 'number of elements').toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  if (scale === 0) scale = 1;
  for (let i = 0; i < expected.length; i++) {
    const [ai, ei] = [a[i]!, expected[i]!];
    const tolerance = rtol * (Math.abs(ei) + scale);
    if (!(Math.abs(ai - ei) <= tolerance)) {
      expect.fail(`entry ${i}: got ${ai}, expected ${ei} (tolerance ${tolerance.toExponential(2)})`);
    }
  }
}

function isTensor(x: unknown): x is Tensor {
  return (x as { isTensor?: unknown }).isTensor === true;
}
