/**
 * Graphs beyond a chain and modules beyond core's, each against explicit
 * matrices written out in the test:
 * - a residual block (Add): KFLR/KFAC sum square roots at the branch point
 *   (exact), KFRA sums the branch matrices;
 * - a two-input third-party module without parameters (y = a ⊙ b): the
 *   generic rule for each input;
 * - a one-input third-party module without parameters (y = x³);
 * - a third-party module with a vector parameter: UnsupportedModuleError
 *   without traits or rule, then a rule set on the instance, or, declaring
 *   the trait perSampleParameterJacobian, the fallback (its whole GGN block);
 * - weight sharing: a clear error, nothing modified.
 */
import { failedMessages } from '@backpack-ts/conformance';
import {
  Add,
  CrossEntropyLoss,
  Generator,
  LeafModule,
  Linear,
  MSELoss,
  Module,
  Sequential,
  Tanh,
  UnsupportedModuleError,
  extend,
  mul,
  square,
  sum,
  tensor,
  type GraphNode,
  type ModuleTraits,
  type Parameter,
  type ParameterJacobianOptions,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA, WeightSharingError, sqrtOutputFactor, type KroneckerRule } from '../src/index.js';
import { compareWithMatrix, float64, perSample, runExtensions } from './helpers.js';
import {
  activation,
  addInto,
  identityMatrix,
  matMul,
  referenceKronecker,
  sandwich,
  toMatrix,
  transposeMatrix,
  zerosMatrix,
  type Matrix,
  type RefLayer,
} from './reference.js';

const weightOf = (layer: Linear): Matrix => toMatrix(layer.weight.data.toArray(), layer.outFeatures, layer.inFeatures);
const diag = (v: readonly number[]): Matrix => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));
const apply = (m: Matrix, v: readonly number[]): number[] => m.map((row) => row.reduce((s, w, j) => s + w * v[j]!, 0));
const outer = (rows: readonly (readonly number[])[]): Matrix => {
  const d = rows[0]!.length;
  const m = zerosMatrix(d, d);
  for (const r of rows) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i]![j]! += r[i]! * r[j]!;
  return m.map((row) => row.map((v) => v / rows.length));
};
const scaled = (m: Matrix, s: number): Matrix => m.map((row) => row.map((v) => v * s));
const plus = (...ms: Matrix[]): Matrix => {
  const out = zerosMatrix(ms[0]!.length, ms[0]![0]!.length);
  for (const m of ms) addInto(out, m);
  return out;
};
const hadamard = (a: Matrix, b: Matrix): Matrix => a.map((row, i) => row.map((v, j) => v * b[i]![j]!));

function softmax(z: readonly number[]): number[] {
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Expected factors by parameter name. */
type Expected = Record<string, Matrix[]>;

function expectParameters(model: Module, field: 'kflr' | 'kfra' | 'kfac', expected: Expected): void {
  const parameters = new Map(model.namedParameters());
  const reports = Object.entries(expected).flatMap(([name, factors]) => {
    const actual = parameters.get(name)![field]!;
    expect(actual.length, `${name} ${field}`).toBe(factors.length);
    return factors.map((m, i) => compareWithMatrix(actual[i]!, m, `${name} ${field}[${i}]`));
  });
  expect(failedMessages(reports)).toEqual([]);
}

describe('residual block: out = lin3(a + lin2(tanh(a))), a = lin1(x), CrossEntropyLoss', () => {
  class Residual extends Module {
    readonly typeName = 'Residual';
    readonly lin1: Linear;
    readonly tanh: Tanh;
    readonly lin2: Linear;
    readonly add: Add;
    readonly lin3: Linear;
    constructor(generator: Generator) {
      super();
      this.lin1 = this.registerModule('lin1', new Linear(3, 4, { ...float64, generator }));
      this.tanh = this.registerModule('tanh', new Tanh());
      this.lin2 = this.registerModule('lin2', new Linear(4, 4, { ...float64, generator }));
      this.add = this.registerModule('add', new Add());
      this.lin3 = this.registerModule('lin3', new Linear(4, 3, { ...float64, generator }));
    }
    forward(x: Tensor): Tensor {
      const a = this.lin1.forward(x);
      return this.lin3.forward(this.add.forward(a, this.lin2.forward(this.tanh.forward(a))));
    }
  }

  const generator = new Generator(41);
  const model = extend(new Residual(generator));
  const n = 5;
  const input = generator.normal([n, 3], float64);
  const labels = [0, 2, 1, 1, 2];
  const target = tensor(labels, [n], { ...float64, dtype: 'int32' });
  const loss = extend(new CrossEntropyLoss());

  // Explicit per-sample forward pass and derivatives.
  const [w1, w2, w3] = [weightOf(model.lin1), weightOf(model.lin2), weightOf(model.lin3)];
  const [b1, b2, b3] = [model.lin1, model.lin2, model.lin3].map((l) => [...l.bias!.data.toArray()]);
  const xs = perSample(input.toArray(), n);
  const as = xs.map((x) => apply(w1, x).map((v, i) => v + b1![i]!));
  const ts = as.map((a) => a.map(Math.tanh));
  const ys = as.map((a, k) => apply(w2, ts[k]!).map((v, i) => v + b2![i]! + a[i]!));
  const outs = ys.map((y) => apply(w3, y).map((v, i) => v + b3![i]!));
  const probs = outs.map(softmax);
  const hessians = probs.map((p) => p.map((pi, i) => p.map((pj, j) => ((i === j ? pi : 0) - pi * pj) / n)));
  const gradOut = probs.map((p, k) => p.map((v, c) => (v - (c === labels[k] ? 1 : 0)) / n));
  const tanhD = activation('Tanh');
  const d1 = as.map((a) => a.map(tanhD.df));
  // d out / d a = W3 (I + W2 diag(tanh'(a))).
  const jacA = d1.map((d) => matMul(w3, plus(identityMatrix(4), matMul(w2, diag(d)))));

  function kronecker(g1: Matrix, g2: Matrix, g3: Matrix): Expected {
    return {
      'lin1.weight': [g1, outer(xs)],
      'lin1.bias': [g1],
      'lin2.weight': [g2, outer(ts)],
      'lin2.bias': [g2],
      'lin3.weight': [g3, outer(ys)],
      'lin3.bias': [g3],
    };
  }

  it('KFLR sums the square roots of both branches: exact per-sample GGNs', () => {
    runExtensions(model, loss, input, target, [new KFLR()]);
    const g3 = plus(...hessians);
    const g2 = plus(...hessians.map((h) => sandwich(w3, h)));
    const g1 = plus(...hessians.map((h, k) => sandwich(jacA[k]!, h)));
    expectParameters(model, 'kflr', kronecker(g1, g2, g3));
  });

  it.each(['ggn', 'hessian'] as const)('KFRA (curvature %s) sums the matrices of both branches', (curvature) => {
    runExtensions(model, loss, input, target, [new KFRA({ curvature })]);
    const mOut = plus(...hessians);
    const mY = sandwich(w3, mOut);
    const mT = sandwich(w2, mY);
    let mA = hadamard(mT, outer(d1));
    if (curvature === 'hessian') {
      // Σ_n tanh''(a_n) ⊙ g_t,n with g_t = W2ᵀ W3ᵀ g_out.
      const residual = [0, 1, 2, 3].map((i) =>
        as.reduce((s, a, k) => s + tanhD.d2f(a[i]!) * apply(transposeMatrix(matMul(w3, w2)), gradOut[k]!)[i]!, 0),
      );
      mA = plus(mA, diag(residual));
    }
    expectParameters(model, 'kfra', kronecker(plus(mA, mY), mY, mOut));
  });

  it('KFAC with many samples: its branch sum is consistent with KFLR (same estimator on every layer)', () => {
    // Exact check of the branch sum for KFAC: with the samples S at the output,
    // lin1's factor must be Σ (J_a ᵀ s)(J_a ᵀ s)ᵀ for the very same S as lin3's.
    class Recording extends KFAC {
      sqrtAtOutput: number[] = [];
      override outputFactor(node: GraphNode, sqrt: Tensor): Tensor {
        if (node.module === model.lin3) this.sqrtAtOutput = [...sqrt.toArray()];
        return super.outputFactor(node, sqrt);
      }
    }
    const kfac = new Recording({ seed: 5, mcSamples: 7 });
    runExtensions(model, loss, input, target, [kfac]);
    const columns: number[][][] = [];
    for (let m = 0; m < 7; m++) columns.push(perSample(kfac.sqrtAtOutput.slice(m * n * 3, (m + 1) * n * 3), n));
    const fromColumns = (jac: (k: number) => Matrix) => {
      const g = zerosMatrix(jac(0)[0]!.length, jac(0)[0]!.length);
      for (const perSampleColumns of columns) {
        perSampleColumns.forEach((s, k) => {
          const v = apply(transposeMatrix(jac(k)), s);
          addInto(g, v.map((vi) => v.map((vj) => vi * vj)));
        });
      }
      return g;
    };
    const g3 = fromColumns(() => identityMatrix(3));
    expectParameters(model, 'kfac', kronecker(fromColumns((k) => jacA[k]!), fromColumns(() => w3), g3));
  });
});

/** y = a ⊙ b: a parameter-free module with two inputs, unknown to the extensions. */
class Product extends LeafModule {
  readonly typeName = 'Product';
  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 2) throw new RangeError('Product takes two inputs');
  }
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, inputs[1]!);
  }
  jacTMatProd(node: GraphNode, mat: Tensor, inputIndex: number): Tensor {
    return mul(mat, node.inputs[1 - inputIndex]!);
  }
}

describe('a two-input third-party module without parameters: out = lin3(lin1(x) ⊙ lin2(x)), MSELoss', () => {
  class Gated extends Module {
    readonly typeName = 'Gated';
    readonly lin1: Linear;
    readonly lin2: Linear;
    readonly product: Product;
    readonly lin3: Linear;
    constructor(generator: Generator) {
      super();
      this.lin1 = this.registerModule('lin1', new Linear(3, 4, { ...float64, generator }));
      this.lin2 = this.registerModule('lin2', new Linear(3, 4, { ...float64, generator }));
      this.product = this.registerModule('product', new Product());
      this.lin3 = this.registerModule('lin3', new Linear(4, 2, { ...float64, generator }));
    }
    forward(x: Tensor): Tensor {
      return this.lin3.forward(this.product.forward(this.lin1.forward(x), this.lin2.forward(x)));
    }
  }

  const generator = new Generator(42);
  const model = extend(new Gated(generator));
  const n = 4;
  const input = generator.normal([n, 3], float64);
  const target = generator.normal([n, 2], float64);
  const loss = extend(new MSELoss());
  const [w1, w2, w3] = [weightOf(model.lin1), weightOf(model.lin2), weightOf(model.lin3)];
  const xs = perSample(input.toArray(), n);
  const affine = (layer: Linear, w: Matrix, x: readonly number[]) => apply(w, x).map((v, i) => v + layer.bias!.data.toArray()[i]!);
  const as = xs.map((x) => affine(model.lin1, w1, x));
  const bs = xs.map((x) => affine(model.lin2, w2, x));
  const ps = as.map((a, k) => a.map((v, i) => v * bs[k]![i]!));
  const h = scaled(identityMatrix(2), 2 / (n * 2)); // MSE mean: 2 / (N·D) per sample

  it('KFLR: each input gets its own transposed Jacobian', () => {
    runExtensions(model, loss, input, target, [new KFLR()]);
    const g3 = scaled(h, n);
    const g1 = plus(...bs.map((b) => sandwich(matMul(w3, diag(b)), h)));
    const g2 = plus(...as.map((a) => sandwich(matMul(w3, diag(a)), h)));
    expectParameters(model, 'kflr', {
      'lin1.weight': [g1, outer(xs)],
      'lin2.weight': [g2, outer(xs)],
      'lin3.weight': [g3, outer(ps)],
    });
  });

  it('KFRA: the generic expectation approximation for each input', () => {
    runExtensions(model, loss, input, target, [new KFRA()]);
    const mOut = scaled(h, n);
    const mP = sandwich(w3, mOut);
    const average = (others: number[][]) => scaled(plus(...others.map((o) => sandwich(diag(o), mP))), 1 / n);
    expectParameters(model, 'kfra', {
      'lin1.weight': [average(bs), outer(xs)],
      'lin2.weight': [average(as), outer(xs)],
      'lin3.weight': [mOut, outer(ps)],
    });
  });
});

/** y = x³: a one-input parameter-free module with only `jacTMatProd` (generic expectation approximation). */
class Cube extends LeafModule {
  readonly typeName = 'Cube';
  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1) throw new RangeError('Cube takes one input');
  }
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(square(inputs[0]!), inputs[0]!);
  }
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, mul(square(node.input), 3));
  }
}

it('a one-input third-party module without parameters gets the generic rule (KFLR, KFRA)', () => {
  const generator = new Generator(43);
  const first = new Linear(3, 4, { ...float64, generator });
  const second = new Linear(4, 3, { ...float64, generator });
  const model = extend(new Sequential(first, new Cube(), second));
  const input = generator.normal([5, 3], float64);
  const target = tensor([2, 0, 1, 1, 0], [5], { ...float64, dtype: 'int32' });
  runExtensions(model, extend(new CrossEntropyLoss()), input, target, [new KFLR(), new KFRA()]);
  const layer = (l: Linear): RefLayer => ({ kind: 'linear', weight: weightOf(l), bias: [...l.bias!.data.toArray()] });
  const reference = referenceKronecker({
    layers: [layer(first), { kind: 'elementwise', activation: { f: (x) => x ** 3, df: (x) => 3 * x * x, d2f: (x) => 6 * x } }, layer(second)],
    loss: { kind: 'CrossEntropyLoss', reduction: 'mean' },
    sampleShape: [3],
    inputs: perSample(input.toArray(), 5),
    targets: [...target.toArray()],
  });
  for (const field of ['kflr', 'kfra'] as const) {
    const f0 = reference.factors.get(0)![field];
    const f2 = reference.factors.get(2)![field];
    expectParameters(model, field, { '0.weight': [f0.g, f0.a], '0.bias': [f0.g], '2.weight': [f2.g, f2.a], '2.bias': [f2.g] });
  }
});

/** y = x ⊙ w with a learnable w: a third-party module with a parameter and no traits. */
class Scale extends LeafModule {
  readonly typeName: string = 'Scale';
  readonly weight: Parameter;
  constructor(features: number, generator: Generator) {
    super();
    this.weight = this.registerParameter('weight', generator.normal([features], float64));
  }
  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1) throw new RangeError('Scale takes one input');
  }
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, this.weight.data);
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight.data);
  }
  override paramJacTMatProd(node: GraphNode, _name: string, mat: Tensor, { sumBatch }: ParameterJacobianOptions): Tensor {
    const perSampleGrad = mul(mat, node.input);
    return sumBatch ? sum(perSampleGrad, 1) : perSampleGrad;
  }
}

/** Scale declaring its per-sample parameter Jacobian: its vector parameter gets the fallback rule. */
class TraitedScale extends Scale {
  override readonly typeName = 'TraitedScale';
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true };
}

/** For Scale: one factor, the exact GGN of w, Σ_{v,n} (x_n ⊙ s_vn)(x_n ⊙ s_vn)ᵀ (square-root strategy). */
const scaleRule: KroneckerRule = {
  parameters: (node, sqrt) => new Map([['weight', [sqrtOutputFactor(mul(sqrt, node.input))]]]),
  backpropagate: (node, sqrt, inputIndex, { extension, gradOutput }) => extension.backpropagateThrough(node, sqrt, gradOutput, inputIndex),
};

describe('a third-party module with a parameter', () => {
  function setup(ScaleClass: typeof Scale = Scale) {
    const generator = new Generator(44);
    const first = new Linear(3, 4, { ...float64, generator });
    const scale = new ScaleClass(4, generator);
    const second = new Linear(4, 2, { ...float64, generator });
    const model = extend(new Sequential(first, scale, new Tanh(), second));
    const input = generator.normal([5, 3], float64);
    const target = tensor([1, 0, 1, 1, 0], [5], { ...float64, dtype: 'int32' });
    return { model, first, scale, second, input, target, loss: extend(new CrossEntropyLoss()) };
  }

  /** KFLR of every parameter: Linear's factors, and the exact GGN block of the scale's w. */
  function expectExactKflr({ model, first, scale, second, input }: ReturnType<typeof setup>, target: Tensor): void {
    const layer = (l: Linear): RefLayer => ({ kind: 'linear', weight: weightOf(l), bias: [...l.bias!.data.toArray()] });
    const w = [...scale.weight.data.toArray()];
    const xs = perSample(input.toArray(), 5);
    const reference = referenceKronecker({
      layers: [layer(first), { kind: 'scale', factors: xs.map(() => w) }, { kind: 'elementwise', activation: activation('Tanh') }, layer(second)],
      loss: { kind: 'CrossEntropyLoss', reduction: 'mean' },
      sampleShape: [3],
      inputs: xs,
      targets: [...target.toArray()],
    });
    const hidden = xs.map((x) => apply(weightOf(first), x).map((v, i) => v + first.bias!.data.toArray()[i]!));
    const scaleGgn = plus(...hidden.map((x, k) => sandwich(diag(x), reference.ggn(1, k))));
    const f0 = reference.factors.get(0)!.kflr;
    const f3 = reference.factors.get(3)!.kflr;
    expectParameters(model, 'kflr', {
      '0.weight': [f0.g, f0.a],
      '1.weight': [scaleGgn],
      '3.weight': [f3.g, f3.a],
    });
  }

  it.each([() => new KFLR(), () => new KFAC({ seed: 1 }), () => new KFRA()])(
    'without traits or rule is refused with UnsupportedModuleError naming extension and module, before anything is modified (%#)',
    (make) => {
      const { model, input, target, loss } = setup();
      const extension = make();
      const run = () => runExtensions(model, loss, input, target, [extension]);
      expect(run).toThrow(UnsupportedModuleError);
      expect(run).toThrow(
        `${extension.name} has no rule for Scale '1' (module type Scale); declare the trait perSampleParameterJacobian on Scale, or set one with ${extension.name}'s setModuleRule(Scale, rule)`,
      );
      for (const [, parameter] of model.namedParameters()) {
        expect(parameter.grad).toBeUndefined();
        expect(parameter.kflr ?? parameter.kfac ?? parameter.kfra).toBeUndefined();
      }
    },
  );

  it('works with a rule set on the extension instance (KFLR: the exact GGN of its parameter)', () => {
    const problem = setup();
    runExtensions(problem.model, problem.loss, problem.input, problem.target, [new KFLR().setModuleRule(Scale, scaleRule)]);
    expectExactKflr(problem, problem.target);
  });

  it('declaring the trait perSampleParameterJacobian is enough: one factor, the whole GGN block (KFLR: exact; KFAC, KFRA run)', () => {
    const problem = setup(TraitedScale);
    runExtensions(problem.model, problem.loss, problem.input, problem.target, [new KFLR(), new KFAC({ seed: 1 }), new KFRA()]);
    expectExactKflr(problem, problem.target);
    for (const field of ['kfac', 'kfra'] as const) expect(problem.scale.weight[field]!.map((f) => f.shape)).toEqual([[4, 4]]);
  });
});

describe('weight sharing', () => {
  it.each([() => new KFLR(), () => new KFAC({ seed: 1 }), () => new KFRA()])(
    'a module applied twice is refused with WeightSharingError naming the parameter; nothing is modified (%#)',
    (make) => {
      const generator = new Generator(45);
      const shared = new Linear(3, 3, { ...float64, generator });
      const model = extend(new Sequential(shared, new Tanh(), shared));
      const input = generator.normal([4, 3], float64);
      const target = tensor([0, 1, 2, 0], [4], { ...float64, dtype: 'int32' });
      const extension = make();
      const run = () => runExtensions(model, extend(new CrossEntropyLoss()), input, target, [extension]);
      expect(run).toThrow(WeightSharingError);
      expect(run).toThrow(new RegExp(`${extension.name}: parameter '2\\.weight' is used 2 times in this forward pass \\(by Linear '2' \\(2 times\\)\\)`));
      expect(shared.weight.grad).toBeUndefined();
      expect(shared.weight[extension.savefield as 'kflr']).toBeUndefined();
    },
  );
});

it("a bias's factor is its own tensor, equal to the weight's output-side factor", () => {
  const generator = new Generator(46);
  const layer = new Linear(3, 2, { ...float64, generator });
  const model = extend(new Sequential(layer));
  runExtensions(model, extend(new MSELoss()), generator.normal([4, 3], float64), generator.normal([4, 2], float64), [new KFLR(), new KFRA()]);
  for (const field of ['kflr', 'kfra'] as const) {
    const [g] = layer.weight[field]!;
    const [gBias] = layer.bias![field]!;
    expect(gBias).not.toBe(g);
    expect(gBias!.toArray()).toEqual(g!.toArray());
  }
});
