/**
 * The kernel cases of the conformance kit: every kernel of the `Backend`
 * contract on random and awkward inputs (rank 0, size-1 dimensions,
 * broadcasting, inputs that are permuted / sliced / reshaped
 * views, large and tiny magnitudes, ties, NaN where the contract says what
 * NaN does), plus a few inputs above 10,000 elements, where accelerated
 * backends typically switch to their fast path.
 *
 * Value ranges keep every exact result inside float32's normal range, so the
 * float64 reference is a fair target for float32 backends too.
 */
import {
  Generator,
  conv,
  convTranspose,
  convWeightGrad,
  formatShape,
  maxPool,
  maxPoolTranspose,
  sizeOf,
  windowOutputSize,
  type BinaryOp,
  type DType,
  type FloatDType,
  type ReduceOp,
  type Shape,
  type UnaryOp,
  type WindowGeometry,
} from '@backpack-ts/core';
import { emptyCases } from './empty-cases.js';
import { describeViews, input, type InputSpec, type InputView, type KernelCase } from './kernel-check.js';
import { viaCore } from './via-core.js';

/** Seeded draws of input values. */
class Draw {
  private readonly g: Generator;

  constructor(seed: number) {
    this.g = new Generator(seed);
  }

  normal(n: number, scale = 1): number[] {
    return Array.from({ length: n }, () => this.g.nextNormal() * scale);
  }

  uniform(n: number, low: number, high: number): number[] {
    return Array.from({ length: n }, () => low + (high - low) * this.g.nextUniform());
  }

  /** Magnitudes log-uniform in [low, high), with random signs when `signed`. */
  logUniform(n: number, low: number, high: number, signed = false): number[] {
    const a = Math.log(low);
    const b = Math.log(high);
    return Array.from({ length: n }, () => {
      const v = Math.exp(a + (b - a) * this.g.nextUniform());
      return signed && this.g.nextUniform() < 0.5 ? -v : v;
    });
  }

  /** Integers in [low, high] (many ties). */
  ints(n: number, low: number, high: number): number[] {
    return Array.from({ length: n }, () => low + Math.floor((high - low + 1) * this.g.nextUniform()));
  }

  /** Every `every`-th value replaced by `value`. */
  sprinkle(values: number[], every: number, value: number): number[] {
    return values.map((v, i) => (i % every === every - 1 ? value : v));
  }
}

type Variant = 'base' | 'tiny' | 'large';
type Domain = (draw: Draw, n: number, variant: Variant) => number[] | undefined;

const PERMUTED_3D: InputView = { kind: 'permuted', perm: [2, 0, 1] };
const TRANSPOSED: InputView = { kind: 'permuted', perm: [1, 0] };
const SLICED: InputView = { kind: 'sliced' };
const RESHAPED: InputView = { kind: 'reshaped' };

/** Inputs of more than 10,000 elements. */
const BIG_2D: Shape = [130, 97];

// ---------------------------------------------------------------- unary

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

function unaryCases(draw: Draw): KernelCase[] {
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

// ---------------------------------------------------------------- binary

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

function binaryCases(draw: Draw): KernelCase[] {
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

function binaryScalarCases(draw: Draw): KernelCase[] {
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

// ---------------------------------------------------------------- reductions

function reduceCase(op: ReduceOp, spec: InputSpec, axes: readonly number[], suffix = '', int32 = false): KernelCase {
  const outShape = spec.shape.filter((_, d) => !axes.includes(d));
  return {
    family: 'reduce',
    name: `reduce ${op}${int32 ? ' int32' : ''} ${formatShape(spec.shape)} axes [${axes.join(', ')}]${suffix}${describeViews([spec])}`,
    inputs: [spec],
    exact: int32 || op !== 'sum',
    run: (b, [x], dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: b.reduce(op, x, spec.shape, axes, dt), shape: outShape, dtype: dt };
    },
  };
}

const REDUCTIONS: readonly [Shape, readonly number[]][] = [
  [[3, 4], [0]],
  [[3, 4], [1]],
  [[3, 4], [0, 1]],
  [[2, 3, 4], [1]],
  [[2, 3, 4], [0, 2]],
  [[2, 3, 4], []],
  [[5], [0]],
  [[], []],
  [[2, 1, 3], [1]],
  [[1, 1], [0, 1]],
  [[200, 80], [0]],
  [[200, 80], [1]],
  [[20, 30, 40], [0, 2]],
  [[20, 30, 40], [1]],
  [[20, 30, 40], [0, 1, 2]],
];

function reduceCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const op of ['sum', 'max', 'min'] as const) {
    for (const [shape, axes] of REDUCTIONS) cases.push(reduceCase(op, input(shape, draw.normal(sizeOf(shape))), axes));
    cases.push(reduceCase(op, input([4, 5, 6], draw.normal(120), PERMUTED_3D), [1]));
    cases.push(reduceCase(op, input([4, 5, 6], draw.normal(120), SLICED), [0, 2]));
    for (const [variant, scale] of [['tiny', 1e-30], ['large', 1e30]] as const) {
      cases.push(reduceCase(op, input([3, 4], draw.normal(12, scale)), [1], ` ${variant}`));
      cases.push(reduceCase(op, input([200, 80], draw.normal(16_000, scale)), [1], ` ${variant}`));
    }
  }
  for (const [shape, axes] of [[[3, 4], [1]], [[200, 80], [0]]] as const) {
    cases.push(reduceCase('sum', input(shape, draw.ints(sizeOf(shape), -1000, 1000), undefined, true), axes, '', true));
  }
  return cases;
}

// ---------------------------------------------------------------- matmul

interface MatmulSpec {
  readonly batchA: number;
  readonly batchB: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

function matmulCase(draw: Draw, s: MatmulSpec, options: { scaleA?: number; scaleB?: number; viewA?: InputView; viewB?: InputView; label?: string } = {}): KernelCase {
  const aShape = s.transA ? [s.batchA, s.k, s.m] : [s.batchA, s.m, s.k];
  const bShape = s.transB ? [s.batchB, s.n, s.k] : [s.batchB, s.k, s.n];
  const outShape = [s.batchA === 1 ? s.batchB : s.batchA, s.m, s.n];
  const a = input(aShape, draw.normal(sizeOf(aShape), options.scaleA ?? 1), options.viewA);
  const b = input(bShape, draw.normal(sizeOf(bShape), options.scaleB ?? 1), options.viewB);
  const t = `${s.transA ? 'ᵀ' : ''}`;
  const u = `${s.transB ? 'ᵀ' : ''}`;
  return {
    family: 'matmul',
    name: `matmul ${formatShape(aShape)}${t} @ ${formatShape(bShape)}${u}${options.label ?? ''}${describeViews([a, b])}`,
    inputs: [a, b],
    run: (backend, [x, y], dtype) => ({
      handle: backend.matmul(x, aShape, y, bShape, s.transA, s.transB, dtype),
      shape: outShape,
      dtype,
    }),
  };
}

function matmulCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  const spec = (batchA: number, batchB: number, m: number, k: number, n: number, transA = false, transB = false): MatmulSpec => ({
    batchA,
    batchB,
    m,
    k,
    n,
    transA,
    transB,
  });
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      cases.push(matmulCase(draw, spec(1, 1, 3, 4, 5, transA, transB)));
      cases.push(matmulCase(draw, spec(3, 1, 2, 3, 4, transA, transB)));
      cases.push(matmulCase(draw, spec(1, 3, 2, 3, 4, transA, transB)));
      cases.push(matmulCase(draw, spec(3, 3, 2, 3, 4, transA, transB)));
      cases.push(matmulCase(draw, spec(1, 1, 64, 64, 64, transA, transB)));
      cases.push(matmulCase(draw, spec(4, 1, 32, 48, 40, transA, transB)));
      // Outer products (k = 1), which backends may turn into broadcast multiplications.
      cases.push(matmulCase(draw, spec(3, 1, 4, 1, 5, transA, transB)));
      cases.push(matmulCase(draw, spec(16, 16, 20, 1, 30, transA, transB)));
    }
  }
  cases.push(matmulCase(draw, spec(1, 4, 32, 48, 40, true, false)));
  cases.push(matmulCase(draw, spec(3, 3, 40, 50, 30)));
  cases.push(matmulCase(draw, spec(1, 1, 4, 5, 1)));
  cases.push(matmulCase(draw, spec(1, 1, 1, 5, 3)));
  cases.push(matmulCase(draw, spec(1, 1, 1, 1, 1)));
  cases.push(matmulCase(draw, spec(1, 1, 1, 300, 1)));
  cases.push(matmulCase(draw, spec(1, 1, 6, 7, 5), { viewA: { kind: 'permuted', perm: [0, 2, 1] }, viewB: SLICED }));
  cases.push(matmulCase(draw, spec(2, 2, 40, 30, 50, false, true), { viewA: SLICED, viewB: { kind: 'permuted', perm: [0, 2, 1] } }));
  for (const [label, scaleA, scaleB] of [[' large', 1e30, 1], [' tiny', 1e-15, 1e-15]] as const) {
    cases.push(matmulCase(draw, spec(1, 1, 3, 4, 5), { scaleA, scaleB, label }));
    cases.push(matmulCase(draw, spec(2, 1, 40, 50, 30, false, true), { scaleA, scaleB, label }));
  }
  return cases;
}

// ---------------------------------------------------------------- layout, creation, read-back

function layoutCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  const push = (name: string, inputs: InputSpec[], run: KernelCase['run'], extra: Partial<KernelCase> = {}) =>
    cases.push({ family: 'layout', name: `${name}${describeViews(inputs)}`, inputs, run, exact: true, ...extra });

  // Creation and read-back.
  // The only kernels that see tensors with no elements.
  for (const shape of [[], [0], [3, 4], BIG_2D] as const) {
    const spec = input(shape, draw.normal(sizeOf(shape)));
    push(`fromData + read ${formatShape(shape)}`, [spec], (_b, [x], dtype) => ({ handle: x, shape, dtype }));
  }
  push(`fromData + read int32 [3, 4]`, [input([3, 4], draw.ints(12, -1e6, 1e6), undefined, true)], (_b, [x]) => ({ handle: x, shape: [3, 4], dtype: 'int32' }));
  for (const [shape, value] of [[[3, 4], 0.1], [[], -2.5], [[0], 1], [BIG_2D, 0], [[2, 3], -0]] as const) {
    push(`full ${formatShape(shape)} ${Object.is(value, -0) ? '-0' : value}`, [], (b, _h, dtype) => ({ handle: b.full(shape, value, dtype), shape, dtype }));
  }
  push('full int32 [2, 3] 7', [], (b) => ({ handle: b.full([2, 3], 7, 'int32'), shape: [2, 3], dtype: 'int32' }), { needs: () => ['int32'] });

  // reshape
  for (const [spec, to] of [
    [input([2, 3], draw.normal(6)), [3, 2]],
    [input([2, 3, 4], draw.normal(24), PERMUTED_3D), [6, 4]],
    [input([4, 5, 6], draw.normal(120), SLICED), [120]],
    [input([], [1.5]), [1, 1]],
  ] as const) {
    push(`reshape ${formatShape(spec.shape)} -> ${formatShape(to)}`, [spec], (b, [x], dtype) => ({ handle: b.reshape(x, spec.shape, to, dtype), shape: to, dtype }));
  }

  // permute
  const perms3 = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const permutes: [InputSpec, readonly number[]][] = [
    ...perms3.map((p): [InputSpec, number[]] => [input([2, 3, 4], draw.normal(24)), p]),
    [input([1, 5, 1, 3], draw.normal(15)), [3, 2, 1, 0]],
    [input([], [4]), []],
    [input([7], draw.normal(7)), [0]],
    [input([4, 5, 6], draw.normal(120), SLICED), [1, 2, 0]],
    [input([40, 30, 20], draw.normal(24_000)), [2, 0, 1]],
    [input([40, 30, 20], draw.normal(24_000)), [1, 0, 2]],
    [input([100, 120], draw.normal(12_000)), [1, 0]],
    [input([3, 4], draw.ints(12, -9, 9), undefined, true), [1, 0]],
  ];
  for (const [spec, perm] of permutes) {
    const outShape = perm.map((d) => spec.shape[d]!);
    const dt = spec.int32 === true ? ' int32' : '';
    push(`permute${dt} ${formatShape(spec.shape)} by [${perm.join(', ')}]`, [spec], (b, [x], dtype) => {
      const d: DType = spec.int32 === true ? 'int32' : dtype;
      return { handle: b.permute(x, spec.shape, perm, d), shape: outShape, dtype: d };
    });
  }

  // slice
  const slices: [InputSpec, number[], number[]][] = [
    [input([5, 6], draw.normal(30)), [1, 2], [3, 3]],
    [input([5, 6], draw.normal(30)), [0, 0], [5, 6]],
    [input([4, 5, 6], draw.normal(120)), [1, 0, 2], [2, 5, 3]],
    [input([4, 5, 6], draw.normal(120), PERMUTED_3D), [0, 1, 1], [3, 3, 3]],
    [input([], [2]), [], []],
    [input([7], draw.normal(7)), [6], [1]],
    [input([150, 100], draw.normal(15_000)), [10, 5], [120, 90]],
    [input([5, 6], draw.ints(30, -9, 9), undefined, true), [1, 1], [2, 4]],
  ];
  for (const [spec, begin, size] of slices) {
    const d = spec.int32 === true ? ' int32' : '';
    push(`slice${d} ${formatShape(spec.shape)} at [${begin.join(', ')}] size [${size.join(', ')}]`, [spec], (b, [x], dtype) => {
      const dt: DType = spec.int32 === true ? 'int32' : dtype;
      return { handle: b.slice(x, spec.shape, begin, size, dt), shape: size, dtype: dt };
    });
  }

  // concat
  const concats: [InputSpec[], number][] = [
    [[input([2, 3], draw.normal(6)), input([4, 3], draw.normal(12))], 0],
    [[input([2, 3], draw.normal(6)), input([2, 1], draw.normal(2)), input([2, 5], draw.normal(10))], 1],
    [[input([2, 3, 1], draw.normal(6)), input([2, 3, 4], draw.normal(24), SLICED)], 2],
    [[input([3, 4], draw.normal(12), TRANSPOSED)], 0],
    [[input([1], draw.normal(1)), input([3], draw.normal(3)), input([2], draw.normal(2))], 0],
    [[input([100, 60], draw.normal(6000)), input([100, 70], draw.normal(7000))], 1],
    [[input([2, 2], draw.ints(4, -9, 9), undefined, true), input([2, 3], draw.ints(6, -9, 9), undefined, true)], 1],
  ];
  for (const [specs, axis] of concats) {
    const outShape = specs[0]!.shape.map((d, i) => (i === axis ? specs.reduce((s, x) => s + x.shape[i]!, 0) : d));
    const int32 = specs[0]!.int32 === true;
    push(`concat${int32 ? ' int32' : ''} ${specs.map((s) => formatShape(s.shape)).join(' + ')} axis ${axis}`, specs, (b, handles, dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: b.concat(handles, specs.map((s) => s.shape), axis, dt), shape: outShape, dtype: dt };
    });
  }

  // pad
  const pads: [InputSpec, number[], number[], number][] = [
    [input([3, 4], draw.normal(12)), [1, 0], [2, 3], 0],
    [input([2, 3, 4], draw.normal(24)), [0, 1, 2], [1, 0, 0], -1.5],
    [input([5], draw.normal(5)), [0], [0], 0],
    [input([4, 5, 6], draw.normal(120), SLICED), [1, 1, 1], [1, 1, 1], 0.25],
    [input([100, 100], draw.normal(10_000)), [1, 2], [2, 1], 0],
    [input([2, 2], draw.ints(4, -9, 9), undefined, true), [1, 1], [1, 1], 5],
  ];
  for (const [spec, before, after, value] of pads) {
    const outShape = spec.shape.map((d, i) => d + before[i]! + after[i]!);
    const int32 = spec.int32 === true;
    push(`pad${int32 ? ' int32' : ''} ${formatShape(spec.shape)} by [${before.join(', ')}] / [${after.join(', ')}] with ${value}`, [spec], (b, [x], dtype) => {
      const dt: DType = int32 ? 'int32' : dtype;
      return { handle: b.pad(x, spec.shape, before, after, value, dt), shape: outShape, dtype: dt };
    });
  }

  // cast (JavaScript reference: truncation toward zero, float rounding)
  const truncate = (values: readonly (readonly number[])[]) => values[0]!.map((v) => Math.trunc(v));
  for (const shape of [[3, 4], BIG_2D] as const) {
    push(`cast ${formatShape(shape)} float -> int32`, [input(shape, draw.uniform(sizeOf(shape), -5, 5))], (b, [x], dtype) => ({
      handle: b.cast(x, shape, dtype, 'int32'),
      shape,
      dtype: 'int32',
    }), { expected: truncate, needs: () => ['int32'] });
  }
  push('cast [3, 4] int32 -> float', [input([3, 4], draw.ints(12, -1e6, 1e6), undefined, true)], (b, [x], dtype) => ({
    handle: b.cast(x, [3, 4], 'int32', dtype),
    shape: [3, 4],
    dtype,
  }), { expected: (v) => v[0]! });
  push('cast [3, 4] float -> same float', [input([3, 4], draw.normal(12), SLICED)], (b, [x], dtype) => ({
    handle: b.cast(x, [3, 4], dtype, dtype),
    shape: [3, 4],
    dtype,
  }), { expected: (v) => v[0]! });
  const other = (dtype: FloatDType): FloatDType => (dtype === 'float32' ? 'float64' : 'float32');
  push('cast [3, 4] float -> the other float', [input([3, 4], draw.normal(12))], (b, [x], dtype) => ({
    handle: b.cast(x, [3, 4], dtype, other(dtype)),
    shape: [3, 4],
    dtype: other(dtype),
  }), { expected: (v, dtype) => (other(dtype) === 'float32' ? v[0]!.map(Math.fround) : v[0]!), needs: (dtype) => [other(dtype)] });
  return cases;
}

// ---------------------------------------------------------------- windows

interface WindowSpec {
  readonly shape: Shape;
  readonly window: WindowGeometry;
  readonly view?: InputView;
}

const geometry = (kernel: number[], stride: number[], padding: number[], dilation: number[]): WindowGeometry => ({ kernel, stride, padding, dilation });

const WINDOWS: readonly WindowSpec[] = [
  { shape: [2, 3, 10], window: geometry([3], [1], [0], [1]) },
  { shape: [1, 2, 9], window: geometry([2], [2], [1], [2]) },
  { shape: [1, 1, 9], window: geometry([2], [3], [0], [1]) },
  { shape: [2, 3, 6, 5], window: geometry([3, 2], [1, 1], [1, 0], [1, 1]) },
  { shape: [1, 2, 7, 7], window: geometry([3, 3], [2, 2], [1, 1], [1, 1]) },
  { shape: [1, 1, 8, 8], window: geometry([2, 2], [1, 2], [0, 1], [2, 3]) },
  { shape: [1, 2, 4, 5, 3], window: geometry([2, 2, 2], [1, 2, 1], [1, 0, 0], [1, 1, 1]) },
  { shape: [2, 3, 6, 5], window: geometry([3, 2], [1, 2], [1, 1], [1, 1]), view: { kind: 'permuted', perm: [0, 1, 3, 2] } },
  { shape: [8, 16, 20, 20], window: geometry([3, 3], [1, 1], [1, 1], [1, 1]) },
];

/** Max-pooling geometries: windows that tile the input (with and without a tail), overlapping, padded, dilated. */
const MAX_POOLS: readonly WindowSpec[] = [
  { shape: [2, 3, 8, 8], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]) },
  { shape: [2, 2, 7, 9], window: geometry([2, 3], [2, 3], [0, 0], [1, 1]) },
  { shape: [2, 2, 11], window: geometry([3], [2], [1], [1]) },
  { shape: [1, 2, 6, 7], window: geometry([3, 2], [1, 2], [1, 1], [2, 1]) },
  { shape: [1, 2, 4, 4, 6], window: geometry([2, 2, 3], [2, 2, 3], [0, 0, 0], [1, 1, 1]) },
  { shape: [8, 16, 28, 28], window: geometry([2, 2], [2, 2], [0, 0], [1, 1]) },
];

/**
 * Convolutions (any rank, strides with a tail, padding, dilation, groups; with
 * and without a bias) and the rows `vectors` of their transposes' inputs.
 */
const CONVS: readonly (WindowSpec & { readonly weight: Shape; readonly groups: number; readonly bias: boolean; readonly vectors: number })[] = [
  { shape: [2, 4, 11], weight: [6, 2, 3], window: geometry([3], [2], [1], [1]), groups: 2, bias: true, vectors: 1 },
  { shape: [2, 3, 12], weight: [4, 3, 3], window: geometry([3], [1], [2], [2]), groups: 1, bias: false, vectors: 2 },
  { shape: [2, 3, 7, 6], weight: [4, 3, 3, 2], window: geometry([3, 2], [2, 1], [1, 0], [1, 2]), groups: 1, bias: true, vectors: 2 },
  { shape: [1, 4, 8, 8], weight: [6, 2, 3, 3], window: geometry([3, 3], [2, 2], [1, 1], [1, 1]), groups: 2, bias: false, vectors: 3 },
  { shape: [2, 4, 9, 9], weight: [8, 1, 3, 3], window: geometry([3, 3], [2, 1], [0, 2], [2, 2]), groups: 4, bias: true, vectors: 1 },
  { shape: [1, 2, 5, 4, 6], weight: [3, 2, 2, 3, 2], window: geometry([2, 3, 2], [1, 2, 2], [1, 0, 1], [2, 1, 1]), groups: 1, bias: true, vectors: 2 },
  {
    shape: [2, 3, 6, 5],
    weight: [4, 3, 3, 3],
    window: geometry([3, 3], [1, 1], [1, 1], [1, 1]),
    groups: 1,
    bias: false,
    vectors: 1,
    view: { kind: 'permuted', perm: [0, 1, 3, 2] },
  },
  { shape: [8, 16, 20, 20], weight: [8, 16, 3, 3], window: geometry([3, 3], [1, 1], [1, 1], [1, 1]), groups: 1, bias: true, vectors: 1 },
];

function describeWindow(w: WindowGeometry): string {
  return `kernel [${w.kernel.join(', ')}] stride [${w.stride.join(', ')}] padding [${w.padding.join(', ')}] dilation [${w.dilation.join(', ')}]`;
}

function windowCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const { shape, window, view } of WINDOWS) {
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const positions = sizeOf(windowOutputSize(spatial, window));
    const rows = c * sizeOf(window.kernel);
    const colsShape = [n, rows, positions];
    const x = input(shape, draw.normal(sizeOf(shape)), view);
    cases.push({
      family: 'window',
      name: `unfold ${formatShape(shape)} ${describeWindow(window)}${describeViews([x])}`,
      inputs: [x],
      exact: true,
      run: (b, [h], dtype) => ({ handle: b.unfold(h, shape, window, dtype), shape: colsShape, dtype }),
    });
    const cols = input(colsShape, draw.normal(sizeOf(colsShape)));
    cases.push({
      family: 'window',
      name: `fold ${formatShape(colsShape)} to ${formatShape(spatial)} ${describeWindow(window)}`,
      inputs: [cols],
      run: (b, [h], dtype) => ({ handle: b.fold(h, colsShape, spatial, window, dtype), shape, dtype }),
    });
  }
  for (const { shape, window } of MAX_POOLS) {
    const [n, c, ...spatial] = shape as [number, number, ...number[]];
    const outShape = [n, c, ...windowOutputSize(spatial, window)];
    const positions = [n, c, sizeOf(outShape.slice(2))];
    // Few distinct values: ties, whose first position must win.
    const x = input(shape, draw.ints(sizeOf(shape), -1, 3));
    const described = `${formatShape(shape)} ${describeWindow(window)} (ties)`;
    cases.push({
      family: 'window',
      name: `maxPool values ${described}`,
      inputs: [x],
      exact: true,
      run: (b, [h], dtype) => ({ handle: viaCore(b, [{ handle: h, shape, dtype }], ([t]) => maxPool(t!, window).values).handle, shape: outShape, dtype }),
    });
    const [v, l] = [2, sizeOf(outShape.slice(2))];
    const matShape = [v, n, c, l];
    const mat = input(matShape, draw.normal(v * n * c * l));
    const positionsIn = input(positions, draw.ints(n * c * l, 0, sizeOf(window.kernel) - 1), undefined, true);
    cases.push({
      family: 'window',
      name: `maxPoolTranspose ${formatShape(matShape)} to ${formatShape(spatial)} ${describeWindow(window)}`,
      inputs: [mat, positionsIn],
      run: (b, [m, k], dtype) => ({
        handle: viaCore(b, [{ handle: m, shape: matShape, dtype }, { handle: k, shape: positions, dtype: 'int32' }], ([mt, kt]) =>
          maxPoolTranspose(mt!, kt!, spatial, window),
        ).handle,
        shape: [v, ...shape],
        dtype,
      }),
    });
    cases.push({
      family: 'window',
      name: `maxPool positions ${described}`,
      inputs: [x],
      exact: true,
      needs: () => ['int32'],
      run: (b, [h], dtype) => ({ handle: viaCore(b, [{ handle: h, shape, dtype }], ([t]) => maxPool(t!, window).argmax).handle, shape: positions, dtype: 'int32' }),
    });
  }
  for (const { shape, weight, window, groups, bias, vectors, view } of CONVS) {
    const [n, , ...spatial] = shape as [number, number, ...number[]];
    const outSpatial = windowOutputSize(spatial, window);
    const o = weight[0]!;
    const described = `${formatShape(shape)} weight ${formatShape(weight)} ${describeWindow(window)} groups ${groups}`;
    const x = input(shape, draw.normal(sizeOf(shape)), view);
    const w = input(weight, draw.normal(sizeOf(weight)));
    const b = input([o], draw.normal(o));
    cases.push({
      family: 'window',
      name: `conv ${described}${bias ? ' with bias' : ''}${describeViews([x, w])}`,
      inputs: bias ? [x, w, b] : [x, w],
      run: (backend, [xh, wh, bh], dtype) => {
        const operands = [
          { handle: xh, shape, dtype },
          { handle: wh, shape: weight, dtype },
          ...(bias ? [{ handle: bh, shape: [o], dtype }] : []),
        ];
        const out = viaCore(backend, operands, ([xt, wt, bt]) => conv(xt!, wt!, window, groups, bt).output);
        return { handle: out.handle, shape: out.shape, dtype };
      },
    });
    const matShape = [n * vectors, o, ...outSpatial];
    const mat = input(matShape, draw.normal(sizeOf(matShape)));
    cases.push({
      family: 'window',
      name: `convTranspose ${formatShape(matShape)} to ${described}`,
      inputs: [mat, w],
      run: (b, [mh, wh], dtype) => {
        const out = viaCore(b, [{ handle: mh, shape: matShape, dtype }, { handle: wh, shape: weight, dtype }], ([mt, wt]) =>
          convTranspose(mt!, wt!, spatial, window, groups),
        );
        return { handle: out.handle, shape: out.shape, dtype };
      },
    });
    const gradShape = [vectors, n, o, ...outSpatial];
    const grad = input(gradShape, draw.normal(sizeOf(gradShape)));
    cases.push({
      family: 'window',
      name: `convWeightGrad ${formatShape(gradShape)} of ${described}${describeViews([x, grad])}`,
      inputs: [x, grad],
      run: (b, [xh, gh], dtype) => {
        const out = viaCore(b, [{ handle: xh, shape, dtype }, { handle: gh, shape: gradShape, dtype }], ([xt, gt]) => convWeightGrad(xt!, gt!, window, groups));
        return { handle: out.handle, shape: out.shape, dtype };
      },
    });
  }
  const argmaxes: [Shape, number, InputView?][] = [
    [[4, 5], 1],
    [[4, 5], 0],
    [[2, 3, 4], 1],
    [[3, 1], 1],
    [[1], 0],
    [[4, 5, 6], 0, PERMUTED_3D],
    [[300, 50], 1],
  ];
  for (const [shape, axis, view] of argmaxes) {
    const x = input(shape, draw.ints(sizeOf(shape), 0, 3), view);
    const outShape = shape.filter((_, d) => d !== axis);
    cases.push({
      family: 'window',
      name: `argmax ${formatShape(shape)} axis ${axis} (ties)${describeViews([x])}`,
      inputs: [x],
      exact: true,
      needs: () => ['int32'],
      run: (b, [h], dtype) => ({ handle: b.argmax(h, shape, axis, dtype), shape: outShape, dtype: 'int32' }),
    });
  }
  return cases;
}

// ---------------------------------------------------------------- softmax, log-softmax, one-hot

function nnCases(draw: Draw): KernelCase[] {
  const cases: KernelCase[] = [];
  const softmaxes: [Shape, number, number, InputView?][] = [
    [[4, 5], 1, 1],
    [[4, 5], 0, 1],
    [[2, 3, 4], 1, 1],
    [[2, 3, 4], 2, 1],
    [[1, 1], 1, 1],
    [[3, 1], 1, 1],
    [[7], 0, 1],
    [[4, 5, 6], 2, 1, PERMUTED_3D],
    [[200, 60], 1, 1],
    [[50, 30, 8], 1, 1],
    [[30, 400], 0, 1],
    [[4, 5], 1, 1e4],
    [[200, 60], 1, 1e4],
    [[4, 5], 1, 1e-30],
  ];
  for (const log of [false, true]) {
    const kernel = log ? 'logSoftmax' : 'softmax';
    for (const [shape, axis, scale, view] of softmaxes) {
      const x = input(shape, draw.normal(sizeOf(shape), scale * 3), view);
      const label = scale === 1 ? '' : scale > 1 ? ' large logits' : ' tiny logits';
      cases.push({
        family: 'nn',
        name: `${kernel} ${formatShape(shape)} axis ${axis}${label}${describeViews([x])}`,
        inputs: [x],
        run: (b, [h], dtype) => ({
          handle: log ? b.logSoftmax(h, shape, axis, dtype) : b.softmax(h, shape, axis, dtype),
          shape,
          dtype,
        }),
      });
    }
  }
  for (const [shape, depth] of [[[5], 4], [[2, 3], 3], [[], 5], [[3000], 10]] as const) {
    const indices = input(shape, draw.ints(sizeOf(shape), 0, depth - 1), undefined, true);
    const outShape = [...shape, depth];
    cases.push({
      family: 'nn',
      name: `oneHot ${formatShape(shape)} depth ${depth}`,
      inputs: [indices],
      exact: true,
      run: (b, [h], dtype) => ({ handle: b.oneHot(h, shape, depth, dtype), shape: outShape, dtype }),
    });
  }
  return cases;
}

// ---------------------------------------------------------------- NaN

/** Where the contract (and backend-cpu) says what NaN does: sign(NaN) = 0; relu, abs, maximum, minimum and reductions propagate it. */
function nanCases(draw: Draw): KernelCase[] {
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

/** Every kernel case, in a fixed order, values drawn from `seed`. */
export function kernelCases(seed: number): KernelCase[] {
  const draw = new Draw(seed);
  return [
    ...layoutCases(draw),
    ...unaryCases(draw),
    ...binaryCases(draw),
    ...binaryScalarCases(draw),
    ...reduceCases(draw),
    ...matmulCases(draw),
    ...windowCases(draw),
    ...nnCases(draw),
    ...nanCases(draw),
    ...emptyCases(draw.normal.bind(draw)),
  ];
}
