/**
 * The NaN kernel cases, where the contract (and backend-cpu) says what NaN
 * does.
 */
import { formatShape, sizeOf } from '@backpack-ts/core';
import { input, type KernelCase } from '../kernel-check.js';
import { BIG_2D, Draw } from './inputs.js';

/** Where the contract (and backend-cpu) says what NaN does: sign(NaN) = 0; relu, abs, maximum, minimum and reductions propagate it. */
export function nanCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const shape of [[3, 4], BIG_2D] as const) {
    const n = sizeOf(shape);
    const withNaN = () => input(shape, draw.sprinkle(draw.normal(n), 5, Number.NaN));
    for (const op of ['sign', 'relu', 'abs', 'step'] as const) {
      const x = withNaN();
      cases.push({
        family: 'nan',
        name: `unary ${op} with NaN ${formatShape(shape)}`,
        inputs: [x],
        run: (b, [h], dtype) => ({ handle: b.unary(op, h, shape, dtype), shape, dtype }),
      });
    }
    for (const op of ['maximum', 'minimum', 'add'] as const) {
      const a = withNaN();
      const b = input(shape, draw.normal(n));
      cases.push({
        family: 'nan',
        name: `binary ${op} with NaN ${formatShape(shape)}`,
        inputs: [a, b],
        run: (backend, [x, y], dtype) => ({ handle: backend.binary(op, x, shape, y, shape, shape, dtype), shape, dtype }),
      });
    }
    for (const op of ['sum', 'max', 'min'] as const) {
      // One NaN in a few rows only.
      const values = draw.normal(n);
      values[1] = Number.NaN;
      values[n - 2] = Number.NaN;
      const x = input(shape, values);
      const outShape = [shape[0]!];
      cases.push({
        family: 'nan',
        name: `reduce ${op} with NaN ${formatShape(shape)} axes [1]`,
        inputs: [x],
        run: (b, [h], dtype) => ({ handle: b.reduce(op, h, shape, [1], dtype), shape: outShape, dtype }),
      });
    }
  }
  return cases;
}
