/**
 * Rules: the fallback for parameter-free modules (including third-party
 * ones, with their residual), third-party modules with parameters supported
 * by their traits or by a rule set on the extension, the errors for
 * unsupported modules and shared weights, and the factor bookkeeping
 * (compact residuals, no factors for ReLU, merging by origin).
 */
import { cpu } from '@backpack-ts/backend-cpu';
import {
  LeafModule,
  MSELoss,
  RecordedGraph,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  UnsupportedModuleError,
  backpack,
  extend,
  mul,
  ones,
  add,
  sum,
  tensor,
  type GraphNode,
  type ModuleTraits,
  type Parameter,
  type ParameterJacobianOptions,
  type Tensor,
} from '@backpack-ts/core';
import { compareArrays } from '@backpack-ts/conformance';
import { describe, expect, it } from 'vitest';
import {
  BatchDiagHessian,
  DiagHessian,
  affineInParametersRule,
  linearHessianRule,
  mergeFactors,
  parameterFreeHessianRule,
  toDense,
  type HessianDiagonalExtension,
  type SqrtFactor,
} from '../src/index.js';
import { FD_TOLERANCE, hessianDiagonalByFD, perSampleHessianDiagonalByFD } from './helpers/brute-force.js';
import { linear, makeProblem, randomTensor } from './helpers/models.js';

/** A third-party parameter-free module, curved: y = x². Its residual is 2·g. */
class Square extends LeafModule {
  readonly typeName = 'Square';
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, inputs[0]!);
  }
  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, mul(node.input, 2));
  }
  override residualHessianDiagonal(_node: GraphNode, gradOutput: Tensor): Tensor {
    return mul(gradOutput, 2);
  }
}

/**
 * A third-party module with parameters, affine in them: y = x ⊙ scale + shift
 * over the last dimension. It declares no traits, so the extensions need a
 * rule for it.
 */
class PlainScaleShift extends LeafModule {
  readonly typeName: string = 'PlainScaleShift';
  readonly scale: Parameter;
  readonly shift: Parameter;
  constructor(features: number) {
    super();
    this.scale = this.registerParameter('scale', add(ones([features], { backend: cpu }), randomTensor([features], 41, 0.5)));
    this.shift = this.registerParameter('shift', randomTensor([features], 42, 0.5));
  }
  protected checkInputs(): void {}
  protected compute(inputs: readonly Tensor[]): Tensor {
    return add(mul(inputs[0]!, this.scale.data), this.shift.data);
  }
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.scale.data);
  }
  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, { sumBatch }: ParameterJacobianOptions): Tensor {
    const perSample = name === 'scale' ? mul(mat, node.input) : mat;
    return sumBatch ? sum(perSample, 1) : perSample;
  }
}

/** The same module declaring what it is: supported with nothing set on the extensions. */
class ScaleShift extends PlainScaleShift {
  override readonly typeName = 'ScaleShift';
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true, affineInParameters: true };
}

function expectMatchesFD(
  problem: ReturnType<typeof makeProblem>,
  extensions: readonly HessianDiagonalExtension[] = [new DiagHessian(), new BatchDiagHessian()],
): void {
  backpack(extensions, () => problem.loss().backward());
  const params = problem.parameters.map(([, p]) => p);
  const fd = hessianDiagonalByFD(params, () => problem.loss());
  const fdBatch = perSampleHessianDiagonalByFD(params, problem.batch, (n) => problem.sampleLoss(n));
  const reports = problem.parameters.flatMap(([name, p], k) => [
    compareArrays({ shape: p.diagH!.shape, data: p.diagH!.toArray() }, { shape: p.data.shape, data: fd[k]! }, {
      tolerance: FD_TOLERANCE,
      label: `${name} DiagHessian`,
    }),
    compareArrays(
      { shape: p.diagHBatch!.shape, data: p.diagHBatch!.toArray() },
      { shape: [problem.batch, ...p.data.shape], data: Array.from(fdBatch[k]!, (v) => v * problem.sampleScale) },
      { tolerance: FD_TOLERANCE, label: `${name} BatchDiagHessian` },
    ),
  ]);
  expect(reports.filter((r) => !r.ok).map((r) => r.message)).toEqual([]);
}

describe('third-party modules', () => {
  it('a parameter-free module uses the fallback rule, residual included', () => {
    const model = new Sequential(linear(3, 4, 51), new Square(), new Tanh(), linear(4, 2, 52));
    expectMatchesFD(makeProblem('Square', model, new MSELoss(), randomTensor([3, 3], 53, 0.8), randomTensor([3, 2], 54)));
  });

  it('a module with parameters supported by its traits (perSampleParameterJacobian, affineInParameters)', () => {
    const model = new Sequential(linear(3, 4, 55), new ScaleShift(4), new Sigmoid(), linear(4, 2, 56), new ScaleShift(2));
    expectMatchesFD(makeProblem('ScaleShift', model, new MSELoss(), randomTensor([3, 3], 57), randomTensor([3, 2], 58)));
  });

  it('a module without traits, with affineInParametersRule set on the extensions', () => {
    const model = new Sequential(linear(3, 4, 55), new PlainScaleShift(4), new Sigmoid(), linear(4, 2, 56), new PlainScaleShift(2));
    const extensions = [new DiagHessian(), new BatchDiagHessian()].map((e) => e.setModuleRule(PlainScaleShift, affineInParametersRule));
    expectMatchesFD(makeProblem('PlainScaleShift', model, new MSELoss(), randomTensor([3, 3], 57), randomTensor([3, 2], 58)), extensions);
  });

  it('a module with parameters, no traits and no rule is refused with UnsupportedModuleError before anything changes', () => {
    const unregistered = new PlainScaleShift(4);
    const model = extend(new Sequential(linear(3, 4, 59), unregistered, linear(4, 2, 60)));
    const lossFunction = extend(new MSELoss());
    for (const Extension of [DiagHessian, BatchDiagHessian]) {
      const loss = lossFunction.forward(model.forward(randomTensor([2, 3], 61)), randomTensor([2, 2], 62));
      let error: unknown;
      try {
        backpack([new Extension()], () => loss.backward());
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnsupportedModuleError);
      expect((error as Error).message).toContain(new Extension().name);
      expect((error as Error).message).toContain("PlainScaleShift '1'");
      expect((error as Error).message).toContain('declare the traits perSampleParameterJacobian and affineInParameters on PlainScaleShift');
      for (const p of model.parameters()) {
        expect(p.grad).toBeUndefined();
        expect(p.diagH).toBeUndefined();
        expect(p.diagHBatch).toBeUndefined();
      }
    }
  });
});

describe('errors', () => {
  it('refuses a parameter shared by two modules (the diagonal would need cross terms)', () => {
    const shared = linear(3, 3, 63);
    const model = extend(new Sequential(shared, new Tanh(), shared));
    const loss = extend(new MSELoss()).forward(model.forward(randomTensor([2, 3], 64)), randomTensor([2, 3], 65));
    expect(() => backpack([new DiagHessian()], () => loss.backward())).toThrow(/weight sharing/);
    expect(shared.weight.grad).toBeUndefined();
  });
});

describe('square-root factors', () => {
  /** The recorded node of the last module of `modules` (input [2, inFeatures]) and a rule context for it. */
  function recordedNode(modules: LeafModule[], inFeatures: number, seed: number) {
    const output = extend(new Sequential(...modules)).forward(randomTensor([2, inFeatures], seed, 2));
    const loss = extend(new MSELoss()).forward(output, randomTensor(output.shape, seed + 1));
    const gradOutput = randomTensor(output.shape, seed + 2);
    return { node: output.producer!, context: { extension: new DiagHessian(), gradOutput, graph: new RecordedGraph(loss) } };
  }

  function denseFactor(origin: object, seed: number): SqrtFactor {
    return { kind: 'dense', origin, sqrt: randomTensor([3, 2, 3], seed), signs: undefined };
  }

  it('ReLU adds no factor; Sigmoid adds one compact signed diagonal factor', () => {
    const incoming = [denseFactor({}, 70)];
    const relu = recordedNode([linear(2, 3, 66), new ReLU()], 2, 67);
    expect(parameterFreeHessianRule.backpropagate(relu.node, incoming, 0, relu.context)).toHaveLength(1);

    const sigmoid = recordedNode([linear(2, 3, 66), new Sigmoid()], 2, 67);
    const factors = parameterFreeHessianRule.backpropagate(sigmoid.node, incoming, 0, sigmoid.context);
    expect(factors).toHaveLength(2);
    const residual = factors[1]!;
    expect(residual.kind).toBe('diagonal');
    expect(residual.origin).toBe(sigmoid.node);
    // Σ_v sign S Sᵀ of the residual factor is diag(σ''(x) ⊙ g) for every sample.
    const dense = toDense(residual);
    const s = dense.sqrt.toArray();
    const signs = dense.signs!.toArray();
    const x = sigmoid.node.input.toArray();
    const g = sigmoid.context.gradOutput.toArray();
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          let h = 0;
          for (let v = 0; v < 3; v++) h += signs[v * 2 + n]! * s[(v * 2 + n) * 3 + i]! * s[(v * 2 + n) * 3 + j]!;
          const sig = 1 / (1 + Math.exp(-x[n * 3 + i]!));
          const expected = i === j ? sig * (1 - sig) * (1 - 2 * sig) * g[n * 3 + i]! : 0;
          expect(h).toBeCloseTo(expected, 14);
        }
      }
    }
  });

  it('merging sums factors of one origin and keeps the others', () => {
    const [shared, onlyA, onlyB] = [{}, {}, {}];
    const a = [denseFactor(shared, 71), denseFactor(onlyA, 72)];
    const b = [denseFactor(onlyB, 73), denseFactor(shared, 74)];
    const merged = mergeFactors(a, b);
    expect(merged.map((f) => f.origin)).toEqual([shared, onlyA, onlyB]);
    const expected = add(toDense(a[0]!).sqrt, toDense(b[1]!).sqrt).toArray();
    expect(Array.from(toDense(merged[0]!).sqrt.toArray())).toEqual(Array.from(expected));
    expect(merged[1]).toBe(a[1]);
    expect(merged[2]).toBe(b[0]);
  });

  it('compact diagonal factors of one origin merge without expanding', () => {
    const origin = {};
    const signs = tensor([1, -1, 0, 1, 1, -1], [2, 3], { backend: cpu });
    const a: SqrtFactor = { kind: 'diagonal', origin, values: randomTensor([2, 3], 75), signs };
    const b: SqrtFactor = { kind: 'diagonal', origin, values: randomTensor([2, 3], 76), signs };
    const [merged] = mergeFactors([a], [b]);
    expect(merged!.kind).toBe('diagonal');
    // + 0 turns -0 into 0: the compact sum has no signed zeros off the diagonal.
    const values = (t: Tensor) => Array.from(t.toArray(), (v) => v + 0);
    expect(values(toDense(merged!).sqrt)).toEqual(values(add(toDense(a).sqrt, toDense(b).sqrt)));
  });

  it('Linear turns a compact factor into the dense one it represents', () => {
    const layer = linear(3, 2, 77);
    const { node, context } = recordedNode([layer], 3, 78);
    const factor: SqrtFactor = {
      kind: 'diagonal',
      origin: {},
      values: randomTensor([2, 2], 79),
      signs: tensor([1, -1, -1, 1], [2, 2], { backend: cpu }),
    };
    const rule = new DiagHessian().ruleFor(layer);
    expect(rule).toBe(linearHessianRule);
    const [fast] = rule!.backpropagate(node, [factor], 0, context);
    const reference = layer.jacTMatProd(node, toDense(factor).sqrt);
    expect(fast!.kind).toBe('dense');
    expect(toDense(fast!).sqrt.shape).toEqual(reference.shape);
    expect(Array.from(toDense(fast!).sqrt.toArray())).toEqual(Array.from(reference.toArray()));
    expect(Array.from(toDense(fast!).signs!.toArray())).toEqual(Array.from(toDense(factor).signs!.toArray()));
  });
});
