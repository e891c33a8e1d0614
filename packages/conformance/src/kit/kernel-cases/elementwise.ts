/**
 * The elementwise kernel cases: every unary and binary op on its domain, at
 * tiny and large magnitudes, broadcast, on views, and with a scalar operand.
 */
import { formatShape, sizeOf, type BinaryOp, type DType, type Shape, type UnaryOp } from '@backpack-ts/core';
import { describeViews, input, type InputSpec, type InputView, type KernelCase } from '../kernel-check.js';
import { Draw, PERMUTED_3D, TRANSPOSED, SLICED, RESHAPED, BIG_2D } from './inputs.js';

type Variant = 'base' | 'tiny' | 'large';
type Domain = (draw: Draw, n: number, variant: Variant) => number[] | undefined;

const unaryDomains: Readonly<Record<UnaryOp, Domain>> = {
  neg: signedScaled(1e-30, 1e30),
  abs: signedScaled(1e-30, 1e30),
  sign: signedScaled(1e-30, 1e30),
  relu: signedScaled(1e-30, 1e30),
  step: signedScaled(1e-30, 1e30),
  square: signedScaled(1e-15, 1e15),
  exp: (d, n, v) => (v === 'base' ? d.uniform(n, -10, 10) : v === 'large' ? d.uniform(n, -80, 80) : d.normal(n, 1e-30)),
  expm1: (d, n, v) => (v === 'base' ? d.uniform(n, -5, 5) : v === 'large' ? d.uniform(n, -80, 80) : d.normal(n, 1e-30)),
  log: (d, n, v) => d.logUniform(n, ...(v === 'base' ? [1e-3, 1e3] : v === 'tiny' ? [1e-30, 1e-20] : [1e20, 1e30]) as [number, number]),
  log1p: (d, n, v) => (v === 'base' ? d.uniform(n, -0.9, 10) : v === 'tiny' ? d.normal(n, 1e-30) : d.logUniform(n, 1e20, 1e30)),
  sqrt: (d, n, v) => d.sprinkle(d.logUniform(n, ...(v === 'base' ? [1e-3, 1e3] : v === 'tiny' ? [1e-30, 1e-20] : [1e20, 1e30]) as [number, number]), 5, 0),
  reciprocal: (d, n, v) => d.logUniform(n, ...(v === 'base' ? [0.1, 10] : v === 'tiny' ? [1e-30, 1e-25] : [1e25, 1e30]) as [number, number], true),
  tanh: signedScaled(1e-30, 1e30, 3),
  sigmoid: signedScaled(1e-30, 1e30, 3),
  softplus: (d, n, v) => (v === 'base' ? d.uniform(n, -30, 30) : v === 'tiny' ? d.normal(n, 1e-30) : d.normal(n, 1e30)),
};

/** Normal values (times `base`), with zeros sprinkled in; tiny and large rescale them. */
function signedScaled(tiny: number, large: number, base = 1): Domain {
  return (d, n, v) => d.sprinkle(d.normal(n, v === 'base' ? base : v === 'tiny' ? tiny : large), 7, 0);
}

const SHAPES: readonly Shape[] = [[], [1], [7], [3, 4], [2, 3, 4, 5], BIG_2D];

export function unaryCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const op of Object.keys(unaryDomains) as UnaryOp[]) {
    const domain = unaryDomains[op];
    const add = (shape: Shape, variant: Variant, view?: InputView) => {
      const spec = input(shape, domain(draw, sizeOf(shape), variant)!, view);
      cases.push({
        family: 'unary',
        name: `unary ${op} ${formatShape(shape)}${variant === 'base' ? '' : ` ${variant}`}${describeViews([spec])}`,
        inputs: [spec],
        run: (b, [x], dtype) => ({ handle: b.unary(op, x, shape, dtype), shape, dtype }),
      });
    };
    for (const shape of SHAPES) add(shape, 'base');
    add([4, 5, 6], 'base', PERMUTED_3D);
    add([4, 5, 6], 'base', SLICED);
    add([6, 20], 'base', RESHAPED);
    for (const variant of ['tiny', 'large'] as const) {
      add([3, 4], variant);
      add(BIG_2D, variant);
    }
  }
  return cases;
}


type BinaryDomain = (draw: Draw, n: number, operand: 'a' | 'b', variant: Variant) => number[] | undefined;

const sameScale = (tiny: number, large: number): BinaryDomain => (d, n, _o, v) =>
  d.normal(n, v === 'base' ? 1 : v === 'tiny' ? tiny : large);

const binaryDomains: Readonly<Record<BinaryOp, BinaryDomain>> = {
  add: sameScale(1e-30, 1e30),
  sub: sameScale(1e-30, 1e30),
  maximum: sameScale(1e-30, 1e30),
  minimum: sameScale(1e-30, 1e30),
  mul: sameScale(1e-15, 1e15),
  div: (d, n, o, v) =>
    o === 'b' ? d.logUniform(n, 0.5, 2, true) : d.normal(n, v === 'base' ? 1 : v === 'tiny' ? 1e-30 : 1e30),
  pow: (d, n, o, v) => {
    if (v !== 'base') return undefined;
    return o === 'a' ? d.logUniform(n, 0.1, 10) : d.uniform(n, -3, 3);
  },
  greater: (d, n, _o, v) => d.ints(n, -2, 2).map((x) => x * (v === 'base' ? 1 : v === 'tiny' ? 1e-30 : 1e30)),
  greaterEqual: (d, n, _o, v) => d.ints(n, -2, 2).map((x) => x * (v === 'base' ? 1 : v === 'tiny' ? 1e-30 : 1e30)),
  equal: (d, n, _o, v) => d.ints(n, -2, 2).map((x) => x * (v === 'base' ? 1 : v === 'tiny' ? 1e-30 : 1e30)),
};

const COMPARISONS: ReadonlySet<BinaryOp> = new Set(['greater', 'greaterEqual', 'equal']);

/** `[a, b, out]` at the output's rank, as core passes them. */
const BROADCASTS: readonly [Shape, Shape, Shape][] = [
  [[3, 4], [3, 4], [3, 4]],
  [[3, 4], [1, 4], [3, 4]],
  [[3, 1], [1, 4], [3, 4]],
  [[2, 1, 4], [1, 3, 1], [2, 3, 4]],
  [[1], [5], [5]],
  [[], [], []],
  [[1, 1], [1, 1], [1, 1]],
  [[2, 3, 4, 5], [2, 1, 4, 1], [2, 3, 4, 5]],
  [[120, 100], [1, 100], [120, 100]],
  [[120, 1], [120, 100], [120, 100]],
  [[60, 2, 100], [60, 2, 100], [60, 2, 100]],
];

function binaryCase(op: BinaryOp, a: InputSpec, b: InputSpec, outShape: Shape, suffix: string, int32 = false): KernelCase {
  return {
    family: 'binary',
    name: `binary ${op}${int32 ? ' int32' : ''} ${formatShape(a.shape)} x ${formatShape(b.shape)}${suffix}${describeViews([a, b])}`,
    inputs: [a, b],
    exact: COMPARISONS.has(op) || int32,
    run: (backend, [x, y], dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: backend.binary(op, x, a.shape, y, b.shape, outShape, dt), shape: outShape, dtype: dt };
    },
  };
}

export function binaryCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const op of Object.keys(binaryDomains) as BinaryOp[]) {
    const domain = binaryDomains[op];
    const make = (shape: Shape, operand: 'a' | 'b', variant: Variant, view?: InputView) =>
      input(shape, domain(draw, sizeOf(shape), operand, variant)!, view);
    for (const [a, b, out] of BROADCASTS) cases.push(binaryCase(op, make(a, 'a', 'base'), make(b, 'b', 'base'), out, ''));
    cases.push(binaryCase(op, make([5, 6], 'a', 'base', TRANSPOSED), make([5, 6], 'b', 'base'), [5, 6], ''));
    cases.push(binaryCase(op, make([3, 4], 'a', 'base'), make([1, 4], 'b', 'base', SLICED), [3, 4], ''));
    cases.push(binaryCase(op, make([4, 5, 6], 'a', 'base', SLICED), make([4, 5, 6], 'b', 'base', PERMUTED_3D), [4, 5, 6], ''));
    cases.push(binaryCase(op, make([120, 100], 'a', 'base', TRANSPOSED), make([1, 100], 'b', 'base'), [120, 100], ''));
    for (const variant of ['tiny', 'large'] as const) {
      if (domain(draw, 1, 'a', variant) === undefined) continue;
      cases.push(binaryCase(op, make([3, 4], 'a', variant), make([3, 4], 'b', variant), [3, 4], ` ${variant}`));
      cases.push(binaryCase(op, make([120, 100], 'a', variant), make([120, 1], 'b', variant), [120, 100], ` ${variant}`));
    }
    if (op === 'pow') {
      // Negative bases with integer exponents.
      const shape: Shape = [4, 5];
      const base = input(shape, draw.uniform(20, -3, 3));
      const exponent = input(shape, draw.ints(20, -2, 3));
      cases.push(binaryCase(op, base, exponent, shape, ' negative base, integer exponents'));
    }
  }
  // int32 (labels, indices): everything but div and pow.
  for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum', 'greater', 'greaterEqual', 'equal'] as const) {
    for (const [a, b, out] of [BROADCASTS[2]!, BROADCASTS[10]!]) {
      cases.push(
        binaryCase(op, input(a, draw.ints(sizeOf(a), -50, 50), undefined, true), input(b, draw.ints(sizeOf(b), -50, 50), undefined, true), out, '', true),
      );
    }
  }
  return cases;
}

const scalars: Readonly<Record<BinaryOp, readonly number[]>> = {
  add: [0, 2.5, -3],
  sub: [0, 2.5, -3],
  mul: [0, 2.5, -0.125],
  div: [2.5, -0.125],
  pow: [2, 0.5, -1, 3],
  maximum: [0, 0.5],
  minimum: [0, -0.5],
  greater: [0, 1],
  greaterEqual: [0, 1],
  equal: [0, 1],
};

export function binaryScalarCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const op of Object.keys(scalars) as BinaryOp[]) {
    for (const scalar of scalars[op]) {
      for (const [shape, view] of [[[], undefined], [[7], undefined], [[4, 5, 6], SLICED], [BIG_2D, undefined]] as const) {
        const spec = input(shape, binaryDomains[op](draw, sizeOf(shape), 'a', 'base')!, view);
        cases.push({
          family: 'binaryScalar',
          name: `binaryScalar ${op} ${scalar} ${formatShape(shape)}${describeViews([spec])}`,
          inputs: [spec],
          exact: COMPARISONS.has(op),
          run: (b, [x], dtype) => ({ handle: b.binaryScalar(op, x, shape, scalar, dtype), shape, dtype }),
        });
      }
    }
  }
  for (const op of ['add', 'mul', 'maximum', 'equal'] as const) {
    for (const shape of [[3, 4], BIG_2D] as const) {
      const spec = input(shape, draw.ints(sizeOf(shape), -50, 50), undefined, true);
      cases.push({
        family: 'binaryScalar',
        name: `binaryScalar ${op} int32 3 ${formatShape(shape)}`,
        inputs: [spec],
        exact: true,
        run: (b, [x]) => ({ handle: b.binaryScalar(op, x, shape, 3, 'int32'), shape, dtype: 'int32' }),
      });
    }
  }
  return cases;
}
