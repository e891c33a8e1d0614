/**
 * Adding a module (docs/ARCHITECTURE.md, "Adding a module"): a new layer with
 * parameters, `ScaleShift` (`y = x ⊙ scale + shift` over the last dimension,
 * src/scale-shift.ts), written as a third party would, works with the
 * catalog's 15 extensions and the curvature-matrix products HMP, GGNMP and
 * PCHMP
 *
 * - with nothing registered, through the traits it declares; and
 * - without traits (`PlainScaleShift`), through a rule set on each extension
 *   instance with `setModuleRule`, the one registration mechanism (GGNMP
 *   needs neither: its generic rule uses Jacobian products alone);
 *
 * and every quantity of every parameter of a small float64 network
 * (Linear, ScaleShift, Tanh, Linear, CrossEntropyLoss) equals a brute-force
 * computation to 1e-10. The brute force does not use the library: the
 * network is written again in plain JavaScript on second-order Taylor jets
 * (value, first and second derivative along one parameter), which give the
 * per-sample Jacobians, gradients and Hessian diagonals exactly; GGN blocks
 * are `Σ_n J_nᵀ H_n J_n` with the CrossEntropyLoss Hessian written out; the
 * Kronecker factors follow their definitions on dense matrices. The
 * curvature products are applied to the identity and compared with dense
 * blocks: the Hessian's from mixed second derivatives of the jets
 * (polarization, `H_ij = (∂²_{e_i+e_j} - ∂²_{e_i} - ∂²_{e_j}) / 2`), the
 * GGN's as above, and the positive-curvature Hessian's as the GGN plus
 * `Σ_n J_uᵀ diag(m(r_n)) J_u`, where u is Tanh's input, r_n the Tanh
 * residual `g_a ⊙ tanh''(u)` and m clips or takes absolute values. The
 * Monte-Carlo extensions use the classes the loss draws (from a generator
 * with the extension's seed): each drawn column is checked to be
 * `(p_n - e_k) / √(N M)` for some class k and then rebuilt here.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Generator,
  Linear,
  Sequential,
  Tanh,
  backpack,
  extend,
  mul,
  reshape,
  square,
  sum,
  tensor,
  type Extension,
  type GraphNode,
  type Quantity,
  type Tensor,
} from '@backpack-ts/core';
import { CURVATURE_PRODUCT_EXTENSIONS, EXTENSIONS } from '@backpack-ts/catalog';
import { GGNMP, HMP, PCHMP } from '@backpack-ts/curvmatprod';
import { BatchDiagGGNExact, DiagGGNExact, GgnExtension, SqrtGGNExact, genericGgnRule } from '@backpack-ts/diag-ggn';
import { HessianDiagonalExtension, affineInParametersRule } from '@backpack-ts/diag-hessian';
import { FirstOrderExtension, centeredVariance, perSampleGradient, type FirstOrderRule } from '@backpack-ts/first-order';
import { KroneckerExtension, parameterBlockKroneckerRule } from '@backpack-ts/kronecker';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { PlainScaleShift, ScaleShift, compareArrays, failedMessages, type CompareReport } from '../src/index.js';

// ---------------------------------------------------------------------------
// The 15 extensions, with nothing registered or with a rule for PlainScaleShift each.

const MC_SAMPLES = 3;
const SEEDS = { DiagGGNMC: 11, BatchDiagGGNMC: 12, SqrtGGNMC: 13, KFAC: 14 } as const;

/** All 15 from the catalog, the Monte-Carlo ones with their own seed. */
function allFifteen(): Extension[] {
  return [...EXTENSIONS.values()].map((entry) => entry.create({ mcSamples: MC_SAMPLES, seed: SEEDS[entry.name as keyof typeof SEEDS] }));
}

/** The curvature-matrix products from the catalog (PCHMP with its default, clipping). */
function curvatureProducts(): Extension[] {
  return [...CURVATURE_PRODUCT_EXTENSIONS.values()].map((entry) => entry.create());
}

/** PlainScaleShift's rule for each first-order extension, from its per-sample gradients. */
const firstOrderRules: Readonly<Record<string, FirstOrderRule>> = {
  BatchGrad: perSampleGradient,
  Variance: (node, g, name) => centeredVariance(perSampleGradient(node, g, name)),
  SumGradSquared: (node, g, name) => sum(square(perSampleGradient(node, g, name)), 0),
  BatchL2Grad: (node, g, name) => sum(square(reshape(perSampleGradient(node, g, name), [node.batchSize, -1])), 1),
};

/** The extension with a rule for PlainScaleShift, set with `setModuleRule` (the packages' generic rules). */
function withRule(extension: Extension): Extension {
  if (extension instanceof FirstOrderExtension) return extension.setModuleRule(PlainScaleShift, firstOrderRules[extension.name]!);
  if (extension instanceof GgnExtension) return extension.setModuleRule(PlainScaleShift, genericGgnRule);
  if (extension instanceof HessianDiagonalExtension) return extension.setModuleRule(PlainScaleShift, affineInParametersRule);
  if (extension instanceof KroneckerExtension) return extension.setModuleRule(PlainScaleShift, parameterBlockKroneckerRule);
  throw new Error(`no rule for ${extension.name}`);
}

// ---------------------------------------------------------------------------
// The problem: Linear(3, 4), the scale-shift layer, Tanh, Linear(4, 3); CrossEntropyLoss (mean).

const [N, IN, HIDDEN, CLASSES] = [4, 3, 4, 3];
const TARGETS = [0, 2, 1, 2];
const TOLERANCE = 1e-10;

function problem(Layer: typeof PlainScaleShift) {
  const generator = new Generator(7);
  const options = { backend: cpu, dtype: 'float64' as const, generator };
  const model = extend(new Sequential(new Linear(IN, HIDDEN, options), new Layer(HIDDEN, options), new Tanh(), new Linear(HIDDEN, CLASSES, options)));
  const input = generator.uniform([N, IN], { backend: cpu, dtype: 'float64', low: -1, high: 1 });
  const target = tensor(TARGETS, [N], { backend: cpu, dtype: 'int32' });
  const lossFunction = extend(new CrossEntropyLoss());
  return { model, input, target, lossFunction };
}

// ---------------------------------------------------------------------------
// Brute force: the network in plain JavaScript on Taylor jets.

/** `f(t)` along one direction: value, first and second derivative at t = 0. */
class Jet {
  constructor(
    readonly v: number,
    readonly d = 0,
    readonly dd = 0,
  ) {}
  add(o: Jet): Jet {
    return new Jet(this.v + o.v, this.d + o.d, this.dd + o.dd);
  }
  mul(o: Jet): Jet {
    return new Jet(this.v * o.v, this.d * o.v + this.v * o.d, this.dd * o.v + 2 * this.d * o.d + this.v * o.dd);
  }
  /** `g(this)` for a scalar function with derivatives g', g'' at the value. */
  map(g: number, dg: number, d2g: number): Jet {
    return new Jet(g, dg * this.d, d2g * this.d * this.d + dg * this.dd);
  }
  tanh(): Jet {
    const t = Math.tanh(this.v);
    return this.map(t, 1 - t * t, -2 * t * (1 - t * t));
  }
  exp(): Jet {
    const e = Math.exp(this.v);
    return this.map(e, e, e);
  }
  log(): Jet {
    return this.map(Math.log(this.v), 1 / this.v, -1 / (this.v * this.v));
  }
}

type Matrix = number[][];
const zeros = (rows: number, columns: number): Matrix => Array.from({ length: rows }, () => new Array<number>(columns).fill(0));
const transpose = (m: Matrix): Matrix => m[0]!.map((_, j) => m.map((row) => row[j]!));
const matMul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const scaled = (m: Matrix, s: number): Matrix => m.map((row) => row.map((v) => v * s));
const plus = (a: Matrix, b: Matrix): Matrix => a.map((row, i) => row.map((v, j) => v + b[i]![j]!));
const diag = (v: readonly number[]): Matrix => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));
const outerSum = (rows: readonly (readonly number[])[]): Matrix => rows.reduce((m, r) => plus(m, r.map((a) => r.map((b) => a * b))), zeros(rows[0]!.length, rows[0]!.length));
/** `(1/N) Σ_n J_nᵀ M J_n`. */
const batchAverage = (jacobians: readonly Matrix[], m: Matrix): Matrix =>
  scaled(jacobians.map((j) => matMul(matMul(transpose(j), m), j)).reduce(plus), 1 / jacobians.length);

/** The parameters in `namedParameters` order, flattened, with each one's offset, shape and size. */
function layout(model: ReturnType<typeof problem>['model']) {
  const entries = model.namedParameters().map(([name, p]) => ({ name, shape: [...p.data.shape], values: Array.from(p.data.toArray()) }));
  const offsets = new Map<string, number>();
  let total = 0;
  for (const e of entries) {
    offsets.set(e.name, total);
    total += e.values.length;
  }
  return { entries, offsets, total, theta: entries.flatMap((e) => e.values) };
}

/**
 * Everything about the network from plain arithmetic: per sample n, the
 * activations, softmax p_n, the Jacobian of the logits w.r.t. all parameters
 * `J_n` ([C, P]), the gradient and Hessian diagonal of loss_n / N.
 */
function bruteForce(theta: readonly number[], x: Matrix) {
  const total = theta.length;
  let at = 0;
  const take = (count: number) => [at, (at += count)] as const;
  const [w0, b0, scale, shift, w3Range, b3] = [take(HIDDEN * IN), take(HIDDEN), take(HIDDEN), take(HIDDEN), take(CLASSES * HIDDEN), take(CLASSES)];
  const param = (jets: readonly Jet[], [start]: readonly [number, number], i: number) => jets[start + i]!;
  const constant = (v: number) => new Jet(v);

  /** The forward pass of sample n with every parameter a jet; returns logits and activations. */
  const forward = (jets: readonly Jet[], n: number) => {
    const h = Array.from({ length: HIDDEN }, (_, o) =>
      x[n]!.reduce((s, xi, i) => s.add(param(jets, w0, o * IN + i).mul(constant(xi))), param(jets, b0, o)),
    );
    const u = h.map((hi, o) => hi.mul(param(jets, scale, o)).add(param(jets, shift, o)));
    const a = u.map((ui) => ui.tanh());
    const z = Array.from({ length: CLASSES }, (_, c) => a.reduce((s, ai, o) => s.add(param(jets, w3Range, c * HIDDEN + o).mul(ai)), param(jets, b3, c)));
    // loss_n / N = (log Σ_c exp(z_c - max) + max - z_y) / N, the maximum a constant shift.
    const top = Math.max(...z.map((zc) => zc.v));
    const logSumExp = z.map((zc) => zc.add(constant(-top)).exp()).reduce((s, e) => s.add(e)).log().add(constant(top));
    const loss = logSumExp.add(z[TARGETS[n]!]!.mul(constant(-1))).mul(constant(1 / N));
    return { h, u, a, z, loss };
  };

  /** `Σ_n ∂²(loss_n / N)` along `direction`. */
  const curvatureAlong = (direction: (k: number) => number) =>
    Array.from({ length: N }, (_, n) => forward(theta.map((v, k) => new Jet(v, direction(k))), n).loss.dd).reduce((s, v) => s + v);
  /** The block `[offset, offset + size)` of the Hessian of the loss, by polarization of second derivatives along `e_i + e_j`. */
  const hessianBlock = (offset: number, size: number): Matrix => {
    const diagonal = Array.from({ length: size }, (_, i) => curvatureAlong((k) => (k === offset + i ? 1 : 0)));
    return Array.from({ length: size }, (_, i) =>
      Array.from({ length: size }, (_, j) =>
        i === j ? diagonal[i]! : (curvatureAlong((k) => (k === offset + i || k === offset + j ? 1 : 0)) - diagonal[i]! - diagonal[j]!) / 2,
      ),
    );
  };

  const samples = Array.from({ length: N }, (_, n) => {
    const jacobian = zeros(CLASSES, total);
    const tanhInputJacobian = zeros(HIDDEN, total);
    const gradient = new Array<number>(total).fill(0);
    const hessianDiagonal = new Array<number>(total).fill(0);
    for (let j = 0; j < total; j++) {
      const { u, z, loss } = forward(theta.map((v, k) => new Jet(v, k === j ? 1 : 0)), n);
      z.forEach((zc, c) => (jacobian[c]![j] = zc.d));
      u.forEach((uo, o) => (tanhInputJacobian[o]![j] = uo.d));
      gradient[j] = loss.d;
      hessianDiagonal[j] = loss.dd;
    }
    const { h, a, z } = forward(theta.map((v) => new Jet(v)), n);
    const e = z.map((zc) => Math.exp(zc.v - Math.max(...z.map((zz) => zz.v))));
    const p = e.map((v) => v / e.reduce((s, w) => s + w, 0));
    const w3 = Array.from({ length: CLASSES }, (_, c) => theta.slice(w3Range[0] + c * HIDDEN, w3Range[0] + (c + 1) * HIDDEN));
    // Gradient of loss_n / N w.r.t. Tanh's output: W3ᵀ (p - e_y) / N; Tanh's residual is g_a ⊙ tanh''(u).
    const gradA = Array.from({ length: HIDDEN }, (_, o) => p.reduce((s, pc, c) => s + w3[c]![o]! * (pc - (c === TARGETS[n] ? 1 : 0)), 0) / N);
    return {
      loss: forward(theta.map((v) => new Jet(v)), n).loss.v,
      x: x[n]!,
      h: h.map((j) => j.v),
      a: a.map((j) => j.v),
      p,
      jacobian,
      tanhInputJacobian,
      tanhResidual: a.map((aj, o) => gradA[o]! * -2 * aj.v * (1 - aj.v * aj.v)),
      gradient,
      hessianDiagonal,
      /** ∇²_z (loss_n / N) = (diag p - p pᵀ) / N. */
      lossHessian: scaled(plus(diag(p), scaled(outerSum([p]), -1)), 1 / N),
      scale: theta.slice(scale[0], scale[1]),
      w3,
    };
  });
  return { samples, hessianBlock };
}

type BruteForce = ReturnType<typeof bruteForce>;
type Sample = BruteForce['samples'][number];

/** An expected tensor: shape and row-major values. */
interface Expected {
  readonly shape: number[];
  readonly data: number[];
}

/** The columns of J_n for one parameter: `[C, size]`. */
const columns = (s: Sample, offset: number, size: number): Matrix => s.jacobian.map((row) => row.slice(offset, offset + size));

/**
 * Rebuilds the Monte-Carlo square root `[M, N, C]` the loss draws with
 * `seed`: the draws are the loss's, each column checked to be
 * `(p_n - e_k) / √(N M)` for some class k, and rebuilt from this file's p_n.
 */
function sampledSqrt(samples: readonly Sample[], lossFunction: CrossEntropyLoss, node: GraphNode, seed: number): number[][][] {
  const drawn = lossFunction.sqrtHessianSampled(node, MC_SAMPLES, new Generator(seed)).toArray();
  const factor = 1 / Math.sqrt(N * MC_SAMPLES);
  return Array.from({ length: MC_SAMPLES }, (_, m) =>
    samples.map((s, n) => {
      const column = Array.from({ length: CLASSES }, (_, c) => drawn[(m * N + n) * CLASSES + c]!);
      const k = column.findIndex((v) => v < 0);
      const rebuilt = s.p.map((pc, c) => (pc - (c === k ? 1 : 0)) * factor);
      column.forEach((v, c) => expect(Math.abs(v - rebuilt[c]!)).toBeLessThan(1e-14));
      return rebuilt;
    }),
  );
}

/** `Σ_n J_uᵀ diag(m(r_n)) J_u` for the parameters `[offset, offset + size)`: Tanh's residual, each entry mapped by `m`, pulled back to them. */
function tanhResidualBlock(samples: readonly Sample[], offset: number, size: number, m: (r: number) => number): Matrix {
  return samples
    .map((s) => {
      const j = s.tanhInputJacobian.map((row) => row.slice(offset, offset + size));
      return matMul(matMul(transpose(j), diag(s.tanhResidual.map(m))), j);
    })
    .reduce(plus);
}

/** How PCHMP makes Tanh's residual positive: its `modify` option, on each (diagonal) entry. */
const MODIFY = { clip: (r: number) => Math.max(r, 0), abs: Math.abs } as const;

/** Every quantity of every parameter, by extension field and parameter name, from the brute force. */
function expectedQuantities(
  lay: ReturnType<typeof layout>,
  { samples, hessianBlock }: BruteForce,
  sqrt: (seed: number) => number[][][],
  modify: keyof typeof MODIFY,
): Map<string, Map<string, Expected | Expected[]>> {
  const result = new Map<string, Map<string, Expected | Expected[]>>();
  const set = (field: string, name: string, value: Expected | Expected[]) => {
    if (!result.has(field)) result.set(field, new Map());
    result.get(field)!.set(name, value);
  };
  const flat = (m: Matrix) => ({ shape: [m.length, m[0]!.length], data: m.flat() });
  const mcCurvature = (seed: number) => {
    const s = sqrt(seed);
    return samples.map((_, n) => outerSum(s.map((draw) => draw[n]!)));
  };
  const ggnBlocks = (offset: number, size: number, curvature: readonly Matrix[]) =>
    samples.map((s, n) => {
      const j = columns(s, offset, size);
      return matMul(matMul(transpose(j), curvature[n]!), j);
    });
  const diagonalOf = (m: Matrix) => m.map((row, i) => row[i]!);
  const exact = samples.map((s) => s.lossHessian);

  // KFRA's batch-averaged matrices, layer by layer from the loss (curvature 'ggn': no residual).
  const kfraOut3 = exact.reduce(plus);
  const kfraTanhOut = matMul(matMul(transpose(samples[0]!.w3), kfraOut3), samples[0]!.w3);
  const kfraScaleShiftOut = batchAverage(samples.map((s) => diag(s.a.map((a) => 1 - a * a))), kfraTanhOut);
  const kfraLinear0Out = batchAverage(samples.map((s) => diag(s.scale)), kfraScaleShiftOut);
  const secondMoment = (rows: readonly (readonly number[])[]) => scaled(outerSum(rows), 1 / rows.length);

  for (const { name, shape, values } of lay.entries) {
    const offset = lay.offsets.get(name)!;
    const size = values.length;
    const g = samples.map((s) => s.gradient.slice(offset, offset + size));
    const mean = g.reduce((acc, gn) => acc.map((v, i) => v + gn[i]!)).map((v) => v / N);
    set('gradBatch', name, { shape: [N, ...shape], data: g.flat() });
    set('sumGradSquared', name, { shape, data: mean.map((_, i) => g.reduce((acc, gn) => acc + gn[i]! ** 2, 0)) });
    set('batchL2', name, { shape: [N], data: g.map((gn) => gn.reduce((acc, v) => acc + v * v, 0)) });
    set('variance', name, { shape, data: mean.map((m, i) => g.reduce((acc, gn) => acc + (gn[i]! - m) ** 2, 0) / N) });

    const blocks = ggnBlocks(offset, size, exact);
    set('diagGgnExact', name, { shape, data: diagonalOf(blocks.reduce(plus)) });
    set('diagGgnExactBatch', name, { shape: [N, ...shape], data: blocks.flatMap(diagonalOf) });
    set('sqrtGgnExact (outer products)', name, { shape: [N, size, size], data: blocks.flatMap((b) => b.flat()) });
    const mcDiagonal = (seed: number) => ggnBlocks(offset, size, mcCurvature(seed)).map(diagonalOf);
    set('diagGgnMc', name, { shape, data: mcDiagonal(SEEDS.DiagGGNMC).reduce((acc, d) => acc.map((v, i) => v + d[i]!)) });
    set('diagGgnMcBatch', name, { shape: [N, ...shape], data: mcDiagonal(SEEDS.BatchDiagGGNMC).flat() });
    const drawn = sqrt(SEEDS.SqrtGGNMC);
    set('sqrtGgnMc', name, {
      shape: [MC_SAMPLES, N, ...shape],
      data: drawn.flatMap((draw) => samples.flatMap((s, n) => matMul([draw[n]!], columns(s, offset, size))[0]!)),
    });
    set('diagH', name, { shape, data: samples.map((s) => s.hessianDiagonal.slice(offset, offset + size)).reduce((acc, d) => acc.map((v, i) => v + d[i]!)) });
    set('diagHBatch', name, { shape: [N, ...shape], data: samples.flatMap((s) => s.hessianDiagonal.slice(offset, offset + size)) });

    // The curvature products applied to the identity [size, ...shape]: the (symmetric) blocks, row by row.
    const ggn = blocks.reduce(plus);
    set('hmp', name, { shape: [size, ...shape], data: hessianBlock(offset, size).flat() });
    set('ggnmp', name, { shape: [size, ...shape], data: ggn.flat() });
    set('pchmp', name, { shape: [size, ...shape], data: plus(ggn, tanhResidualBlock(samples, offset, size, MODIFY[modify])).flat() });
  }

  // Kronecker factors: Linear weight [G, A], bias [G] with G the GGN block of the bias (its
  // Jacobian is the one w.r.t. the layer output) and A the input's second moment; the
  // scale-shift layer's vectors one factor each, their whole GGN block.
  const kroneckerOf = (curvature: readonly Matrix[], field: string) => {
    const block = (name: string) => ggnBlocks(lay.offsets.get(name)!, lay.entries.find((e) => e.name === name)!.values.length, curvature).reduce(plus);
    set(field, '0.weight', [flat(block('0.bias')), flat(secondMoment(samples.map((s) => s.x)))]);
    set(field, '0.bias', [flat(block('0.bias'))]);
    set(field, '1.scale', [flat(block('1.scale'))]);
    set(field, '1.shift', [flat(block('1.shift'))]);
    set(field, '3.weight', [flat(block('3.bias')), flat(secondMoment(samples.map((s) => s.a)))]);
    set(field, '3.bias', [flat(block('3.bias'))]);
  };
  kroneckerOf(exact, 'kflr');
  kroneckerOf(mcCurvature(SEEDS.KFAC), 'kfac');
  set('kfra', '0.weight', [flat(kfraLinear0Out), flat(secondMoment(samples.map((s) => s.x)))]);
  set('kfra', '0.bias', [flat(kfraLinear0Out)]);
  set('kfra', '1.scale', [flat(batchAverage(samples.map((s) => diag(s.h)), kfraScaleShiftOut))]);
  set('kfra', '1.shift', [flat(kfraScaleShiftOut)]);
  set('kfra', '3.weight', [flat(kfraOut3), flat(secondMoment(samples.map((s) => s.a)))]);
  set('kfra', '3.bias', [flat(kfraOut3)]);
  return result;
}

/** `Σ_c P[c, n] P[c, n]ᵀ` per sample from a square root `[V, N, ...param]`, as `[N, size, size]`. */
function sqrtOuterProducts(sqrt: Tensor): Expected {
  const [v, n] = [sqrt.shape[0]!, sqrt.shape[1]!];
  const size = sqrt.size / (v * n);
  const values = sqrt.toArray();
  const rows = (c: number, s: number) => Array.from(values.subarray((c * n + s) * size, (c * n + s + 1) * size));
  const perSample = Array.from({ length: n }, (_, s) => outerSum(Array.from({ length: v }, (_, c) => rows(c, s))).flat());
  return { shape: [n, size, size], data: perSample.flat() };
}

/** The identity as a batch of matrices `[size, ...shape]`, for a curvature product. */
function identity(shape: readonly number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Array.from({ length: size * size }, (_, k) => (Math.floor(k / size) === k % size ? 1 : 0)),
    [size, ...shape],
    { backend: cpu, dtype: 'float64' },
  );
}

/**
 * Runs `extensions` on the problem and compares what each stored on every
 * parameter with the brute force; PCHMP's expected blocks use `modify`.
 */
function run(Layer: typeof PlainScaleShift, extensions: readonly Extension[], modify: keyof typeof MODIFY = 'clip'): CompareReport[] {
  const { model, input, target, lossFunction } = problem(Layer);
  const lay = layout(model);
  const xs = Array.from({ length: N }, (_, n) => Array.from(input.toArray().subarray(n * IN, (n + 1) * IN)));
  const brute = bruteForce(lay.theta, xs);
  const samples = brute.samples;
  const loss = lossFunction.forward(model.forward(input), target);
  const node = loss.producer!;
  const drawn = new Map<number, number[][][]>();
  const sqrt = (seed: number) => {
    if (!drawn.has(seed)) drawn.set(seed, sampledSqrt(samples, lossFunction, node, seed));
    return drawn.get(seed)!;
  };
  const expected = expectedQuantities(lay, brute, sqrt, modify);
  const savefields = new Set(extensions.map((extension) => extension.savefield));
  // Every extension run has brute-force values to meet.
  expect([...savefields].filter((field) => ![...expected.keys()].some((key) => key.split(' ')[0] === field))).toEqual([]);

  backpack(extensions, () => loss.backward());

  const reports: CompareReport[] = [];
  const compare = (actual: Tensor | Expected, wanted: Expected, label: string) => {
    const shaped = 'data' in actual ? actual : { shape: actual.shape, data: actual.toArray() };
    reports.push(compareArrays(shaped, wanted, { tolerance: TOLERANCE, label }));
  };
  for (const [name, parameter] of model.namedParameters()) {
    const stored = parameter as unknown as Record<string, Quantity | undefined>;
    for (const [field, byName] of expected) {
      if (!savefields.has(field.split(' ')[0]!)) continue;
      const wanted = byName.get(name)!;
      const label = `${Layer.name} ${name} ${field}`;
      const quantity = stored[field];
      if (typeof quantity === 'function') {
        compare(quantity(identity(parameter.data.shape)), wanted as Expected, label);
      } else if (field === 'sqrtGgnExact (outer products)') {
        compare(sqrtOuterProducts(stored['sqrtGgnExact'] as Tensor), wanted as Expected, label);
      } else if (Array.isArray(wanted)) {
        const factors = stored[field] as readonly Tensor[];
        expect(factors.length, label).toBe(wanted.length);
        wanted.forEach((w, i) => compare(factors[i]!, w, `${label} factor ${i}`));
      } else {
        compare(stored[field] as Tensor, wanted, label);
      }
    }
  }
  return reports;
}

describe('a new module with parameters, with all 15 extensions and the curvature products', () => {
  it('the brute force agrees with finite differences of its own loss (a check of the jets)', () => {
    const { model, input } = problem(ScaleShift);
    const lay = layout(model);
    const xs = Array.from({ length: N }, (_, n) => Array.from(input.toArray().subarray(n * IN, (n + 1) * IN)));
    const { samples } = bruteForce(lay.theta, xs);
    const step = 1e-4;
    for (let j = 0; j < lay.total; j += 5) {
      const lossesAt = (delta: number) => bruteForce(lay.theta.map((v, k) => (k === j ? v + delta : v)), xs).samples.map((s) => s.loss);
      const [up, down] = [lossesAt(step), lossesAt(-step)];
      samples.forEach((s, n) => {
        expect(Math.abs(s.gradient[j]! - (up[n]! - down[n]!) / (2 * step))).toBeLessThan(1e-9);
        expect(Math.abs(s.hessianDiagonal[j]! - (up[n]! - 2 * s.loss + down[n]!) / step ** 2)).toBeLessThan(1e-6);
      });
    }
  });

  it("the brute force's Hessian blocks (polarization) are the GGN plus Tanh's residual pulled back, which has both signs", () => {
    const { model, input } = problem(ScaleShift);
    const lay = layout(model);
    const xs = Array.from({ length: N }, (_, n) => Array.from(input.toArray().subarray(n * IN, (n + 1) * IN)));
    const { samples, hessianBlock } = bruteForce(lay.theta, xs);
    // Both signs: clipping, absolute values and the exact residual give three different blocks.
    const residuals = samples.flatMap((s) => s.tanhResidual);
    expect(Math.min(...residuals)).toBeLessThan(-1e-3);
    expect(Math.max(...residuals)).toBeGreaterThan(1e-3);
    for (const { name, values } of lay.entries) {
      const [offset, size] = [lay.offsets.get(name)!, values.length];
      const ggn = samples.map((s) => matMul(matMul(transpose(columns(s, offset, size)), s.lossHessian), columns(s, offset, size))).reduce(plus);
      const decomposed = plus(ggn, tanhResidualBlock(samples, offset, size, (r) => r));
      const block = hessianBlock(offset, size);
      block.forEach((row, i) => row.forEach((v, k) => expect(Math.abs(v - decomposed[i]![k]!), `${name} [${i}, ${k}]`).toBeLessThan(1e-13)));
      block.forEach((row, i) => expect(row[i]).toBeCloseTo(samples.reduce((acc, s) => acc + s.hessianDiagonal[offset + i]!, 0), 13));
    }
  });

  it('with nothing registered: its traits are enough for every extension', () => {
    const extensions = [...allFifteen(), ...curvatureProducts()];
    expect(new Set(extensions.map((e) => e.name)).size).toBe(18);
    expect(failedMessages(run(ScaleShift, extensions))).toEqual([]);
  });

  it("PCHMP with modify 'abs': the absolute values of Tanh's residual", () => {
    expect(failedMessages(run(ScaleShift, [new PCHMP({ modify: 'abs' })], 'abs'))).toEqual([]);
  });

  it('without traits: a rule set on each extension with setModuleRule', () => {
    expect(failedMessages(run(PlainScaleShift, allFifteen().map(withRule)))).toEqual([]);
  });

  it("without traits: a rule written inline reads the module's own fields, typed by setModuleRule (no cast)", () => {
    const extensions = [new DiagGGNExact(), new BatchDiagGGNExact(), new SqrtGGNExact()].map((extension) =>
      extension.setModuleRule(PlainScaleShift, {
        // The input Jacobian is diag(scale): S at the input is S ⊙ scale.
        backpropagate: (node, sqrt) => {
          expectTypeOf(node.module).toEqualTypeOf<PlainScaleShift>();
          return mul(sqrt, node.module.scale.data);
        },
      }),
    );
    expect(failedMessages(run(PlainScaleShift, extensions))).toEqual([]);
  });

  it('without traits: GGNMP needs no rule (Jacobian products alone); PCHMP and HMP refuse before the pass, naming the trait', () => {
    expect(failedMessages(run(PlainScaleShift, [new GGNMP()]))).toEqual([]);

    const { model, input, target, lossFunction } = problem(PlainScaleShift);
    const loss = lossFunction.forward(model.forward(input), target);
    expect(() => backpack([new PCHMP()], () => loss.backward({ retainGraph: true }))).toThrow(
      /^PCHMP cannot run: PlainScaleShift '1' is not declared affine in its parameters \(trait affineInParameters\)/,
    );
    expect(() => backpack([new HMP()], () => loss.backward({ retainGraph: true }))).toThrow(
      /^HMP cannot run: PlainScaleShift '1' gives no second derivative w\.r\.t\. its parameters; declare the trait affineInParameters/,
    );
    for (const parameter of model.parameters()) {
      expect(parameter.grad).toBeUndefined();
      expect(parameter.hmp).toBeUndefined();
    }
  });

  it('without traits and without rules: refused, naming extension and module, before anything changes', () => {
    for (const extension of allFifteen()) {
      const { model, input, target, lossFunction } = problem(PlainScaleShift);
      const loss = lossFunction.forward(model.forward(input), target);
      expect(() => backpack([extension], () => loss.backward())).toThrow(
        new RegExp(`^${extension.name} has no rule for PlainScaleShift '1' \\(module type PlainScaleShift\\); declare the traits? `),
      );
      for (const parameter of model.parameters()) expect(parameter.grad).toBeUndefined();
    }
  });
});
