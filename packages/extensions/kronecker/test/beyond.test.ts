/**
 * What the reference refuses and this package computes, each against the
 * independent explicit-Jacobian computation of test/reference.ts:
 * - BCEWithLogitsLoss with several outputs (KFLR, KFRA);
 * - MSELoss on outputs of rank 3 and 4, through Linear layers on inputs with
 *   extra dimensions (treated like extra batch), including the defining
 *   property: the factors equal those of the same network on the flattened
 *   batch `[N·S, in]`;
 * - Linear layers with extra dimensions whose positions later interact;
 * - KFRA's residual terms (curvature 'hessian', 'pch-abs', 'pch-clip');
 * - Dropout in training mode (Jacobian = the saved mask).
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { buildSupportedGoldenModel, failedMessages, listGoldenCases, loadGoldenCase, type GoldenCase } from '@backpack-ts/conformance';
import {
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  Dropout,
  ELU,
  Flatten,
  Generator,
  Linear,
  MSELoss,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  backpack,
  extend,
  reshape,
  sigmoid,
  tensor,
  type Extension,
  type LossModule,
  type Module,
  type Reduction,
  type Tensor,
} from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { KFAC, KFLR, KFRA, type KFRACurvature } from '../src/index.js';
import { compareWithMatrix, float64, perSample, refProblemFromGolden, runExtensions } from './helpers.js';
import {
  activation,
  referenceKronecker,
  relativeError,
  toMatrix,
  type RefLayer,
  type RefLossKind,
  type RefProblem,
  type RefResult,
} from './reference.js';

function refLinear(layer: Linear): RefLayer {
  const w = layer.weight.data;
  return {
    kind: 'linear',
    weight: toMatrix(w.toArray(), w.shape[0]!, w.shape[1]!),
    ...(layer.bias === undefined ? {} : { bias: [...layer.bias.data.toArray()] }),
  };
}

/** The reference layers of a Sequential of Linear layers and activations (evaluation semantics). */
function refLayers(model: Sequential): RefLayer[] {
  return model.layers.map((layer) => {
    if (layer instanceof Linear) return refLinear(layer);
    if (layer instanceof Flatten) return { kind: 'identity' };
    return { kind: 'elementwise', activation: activation(layer.typeName) };
  });
}

function problemOf(model: Sequential, loss: LossModule, input: Tensor, target: Tensor): RefProblem {
  const n = input.shape[0]!;
  const kind = loss.typeName as RefLossKind;
  if (loss.reduction === 'none') throw new Error(`${loss.describe()}: the reference needs a reduced loss`);
  return {
    layers: refLayers(model),
    loss: { kind, reduction: loss.reduction },
    sampleShape: input.shape.slice(1),
    inputs: perSample(input.toArray(), n),
    targets: kind === 'CrossEntropyLoss' ? [...target.toArray()] : perSample(target.toArray(), n),
  };
}

/** Runs KFLR and KFRA(curvature) and compares every Linear layer's factors with the reference. */
function expectMatchesReference(
  model: Sequential,
  loss: LossModule,
  input: Tensor,
  target: Tensor,
  curvature: KFRACurvature = 'ggn',
): void {
  const reference = referenceKronecker(problemOf(model, loss, input, target), curvature);
  runExtensions(model, loss, input, target, [new KFLR(), new KFRA({ curvature })]);
  expectFactors(model, reference);
}

function expectFactors(model: Module, reference: RefResult, fields: readonly ('kflr' | 'kfra')[] = ['kflr', 'kfra']) {
  const reports = [];
  for (const [name, parameter] of model.namedParameters()) {
    const [layer, local] = name.split('.');
    const expected = reference.factors.get(Number(layer))!;
    for (const field of fields) {
      const factors = parameter[field]!;
      expect(factors.length).toBe(local === 'weight' ? 2 : 1);
      reports.push(compareWithMatrix(factors[0]!, expected[field].g, `${name} ${field}[0]`));
      if (local === 'weight') reports.push(compareWithMatrix(factors[1]!, expected[field].a, `${name} ${field}[1]`));
    }
  }
  expect(reports.length).toBeGreaterThan(0);
  expect(failedMessages(reports)).toEqual([]);
}

function net(...layers: Module[]): Sequential {
  return extend(new Sequential(...layers));
}

describe.each(['mean', 'sum'] as const)('BCEWithLogitsLoss with 3 outputs, reduction %s', (reduction: Reduction) => {
  function setup() {
    const generator = new Generator(21);
    const model = net(
      new Linear(4, 5, { ...float64, generator }),
      new Sigmoid(),
      new Linear(5, 3, { ...float64, generator }),
    );
    const input = generator.normal([6, 4], float64);
    const target = sigmoid(generator.normal([6, 3], float64)); // soft labels in (0, 1)
    return { model, loss: extend(new BCEWithLogitsLoss(reduction)), input, target };
  }

  it('KFLR and KFRA equal the explicit computation', () => {
    const { model, loss, input, target } = setup();
    expectMatchesReference(model, loss, input, target);
  });

  it.each(['hessian', 'pch-abs', 'pch-clip'] as const)('KFRA with curvature %s equals the explicit computation', (curvature) => {
    const { model, loss, input, target } = setup();
    expectMatchesReference(model, loss, input, target, curvature);
  });
});

describe('MSELoss on outputs of higher rank; Linear on inputs with extra dimensions', () => {
  function setup(sampleShape: readonly number[], reduction: Reduction) {
    const generator = new Generator(22);
    const model = net(
      new Linear(4, 5, { ...float64, generator }),
      new Tanh(),
      new Linear(5, 3, { ...float64, generator }),
    );
    const n = 3;
    const input = generator.normal([n, ...sampleShape, 4], float64);
    const target = generator.normal([n, ...sampleShape, 3], float64);
    return { model, loss: extend(new MSELoss(reduction)), input, target };
  }

  for (const sampleShape of [[2], [2, 3]]) {
    for (const reduction of ['mean', 'sum'] as const) {
      const label = `output rank ${sampleShape.length + 2}, reduction ${reduction}`;

      it(`${label}: KFLR and KFRA (every curvature) equal the explicit computation`, () => {
        for (const curvature of ['ggn', 'hessian', 'pch-abs', 'pch-clip'] as const) {
          const { model, loss, input, target } = setup(sampleShape, reduction);
          expectMatchesReference(model, loss, input, target, curvature);
        }
      });

      it(`${label}: KFLR, KFRA and KFAC equal those of the same network on the flattened batch [N·S, in]`, () => {
        const withDims = setup(sampleShape, reduction);
        const flat = setup(sampleShape, reduction);
        const make = (): Extension[] => [new KFLR(), new KFRA({ curvature: 'hessian' }), new KFAC({ seed: 3, mcSamples: 2 })];
        runExtensions(withDims.model, withDims.loss, withDims.input, withDims.target, make());
        const flatten = (t: Tensor) => reshape(t, [-1, t.shape[t.rank - 1]!]);
        runExtensions(flat.model, flat.loss, flatten(flat.input), flatten(flat.target), make());
        const flatParameters = new Map(flat.model.namedParameters());
        for (const [name, parameter] of withDims.model.namedParameters()) {
          for (const field of ['kflr', 'kfra', 'kfac'] as const) {
            parameter[field]!.forEach((factor, i) => {
              const expected = flatParameters.get(name)![field]![i]!.toArray();
              expect(relativeError([...factor.toArray()], [...expected]), `${name} ${field}[${i}]`).toBeLessThanOrEqual(1e-12);
            });
          }
        }
      });
    }
  }

  it('positions that interact later (Linear on [N, S, in], ELU, Flatten, Linear, CrossEntropyLoss): explicit computation', () => {
    const generator = new Generator(23);
    const model = net(
      new Linear(3, 4, { ...float64, generator }),
      new ELU(0.7),
      new Flatten(),
      new Linear(8, 3, { ...float64, generator }),
    );
    const input = generator.normal([5, 2, 3], float64);
    const target = tensor([0, 1, 2, 2, 0], [5], { ...float64, dtype: 'int32' });
    const loss = extend(new CrossEntropyLoss());
    // ELU's reference activation needs its alpha.
    const problem = { ...problemOf(model, loss, input, target) };
    const layers = [...problem.layers];
    layers[1] = { kind: 'elementwise', activation: activation('ELU', { alpha: 0.7 }) };
    for (const curvature of ['ggn', 'hessian'] as const) {
      const reference = referenceKronecker({ ...problem, layers }, curvature);
      runExtensions(model, loss, input, target, [new KFLR(), new KFRA({ curvature })]);
      expectFactors(model, reference);
    }
  });
});

describe('KFRA residual terms (curvature other than ggn) on golden networks', () => {
  const cases = listGoldenCases()
    .map((file) => loadGoldenCase(file))
    .filter((golden) => ['mlp_activation_mix_ce', 'mlp_tanh_mse', 'mlp_relu_sigmoid_ce'].includes(golden.name));

  function runKFRA(golden: GoldenCase, curvature: KFRACurvature) {
    const built = buildSupportedGoldenModel(golden, { backend: cpu, dtype: 'float64' });
    runExtensions(built.model, built.loss, built.input, built.target, [new KFRA({ curvature })]);
    return built.model;
  }

  it.each(cases.flatMap((golden) => (['hessian', 'pch-abs', 'pch-clip'] as const).map((curvature) => ({ golden, curvature, name: golden.name }))))(
    '$name with curvature $curvature equals the explicit recursion',
    ({ golden, curvature }) => {
      const reference = referenceKronecker(refProblemFromGolden(golden), curvature);
      expectFactors(runKFRA(golden, curvature), reference, ['kfra']);
    },
  );

  it('the residual matters: curvature hessian differs from ggn before a curved activation', () => {
    const golden = cases.find((c) => c.name === 'mlp_tanh_mse')!;
    const ggn = runKFRA(golden, 'ggn').namedParameters()[0]![1].kfra![0]!.toArray();
    const hessian = runKFRA(golden, 'hessian').namedParameters()[0]![1].kfra![0]!.toArray();
    expect(relativeError([...hessian], [...ggn])).toBeGreaterThan(1e-3);
  });

  it('rejects an unknown curvature', () => {
    expect(() => new KFRA({ curvature: 'exact' as KFRACurvature })).toThrow(/curvature must be one of/);
  });
});

describe('Dropout in training mode', () => {
  it('KFLR and KFRA use the saved mask as the Jacobian', () => {
    const generator = new Generator(24);
    const first = new Linear(4, 6, { ...float64, generator });
    const dropout = new Dropout(0.4, new Generator(25));
    const second = new Linear(6, 3, { ...float64, generator });
    const model = extend(new Sequential(first, dropout, new ReLU(), second));
    model.train();
    const input = generator.normal([5, 4], float64);
    const target = tensor([0, 1, 2, 1, 0], [5], { ...float64, dtype: 'int32' });
    const loss = extend(new CrossEntropyLoss());

    const hidden = first.forward(input);
    const dropped = dropout.forward(hidden);
    const mask = dropped.producer!.saved['mask']!;
    const output = second.forward(model.layers[2]!.forward(dropped));
    backpack([new KFLR(), new KFRA()], () => loss.forward(output, target).backward());

    const maskValues = perSample(mask.toArray(), 5);
    expect(maskValues.flat().some((v) => v === 0)).toBe(true); // some units are dropped
    const problem: RefProblem = {
      layers: [refLinear(first), { kind: 'scale', factors: maskValues }, { kind: 'elementwise', activation: activation('ReLU') }, refLinear(second)],
      loss: { kind: 'CrossEntropyLoss', reduction: 'mean' },
      sampleShape: [4],
      inputs: perSample(input.toArray(), 5),
      targets: [...target.toArray()],
    };
    expectFactors(model, referenceKronecker(problem));
  });
});
