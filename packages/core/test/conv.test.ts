/**
 * Convolutions and transposed convolutions: the forward pass against a direct
 * convolution loop written here, the derivatives against central finite
 * differences of the forward pass, `.grad` through a small CNN, and the
 * error messages.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import {
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  ReLU,
  Sequential,
  Tanh,
  extend,
  type ConvNd,
  type ConvTransposeNd,
  type GraphNode,
  type Tensor,
} from '@backpack-ts/core';
import { expectClose } from './helpers/close.js';
import {
  batchAveragedJacTMatJac,
  matTimesJacobian,
  parameterJacobian,
  perSampleMatTimesJacobian,
  randomSymmetric,
  tensorJacobian,
} from './helpers/finite-differences.js';
import { indices, offsetOf, randomTensor, t, values } from './helpers/tensors.js';

/** Finite differences with h = 1e-6 are good to about 1e-9 here. */
const FD_RTOL = 1e-7;
/** Two computations of the same sums agree to rounding. */
const EXACT_RTOL = 1e-12;

type AnyConv = ConvNd | ConvTransposeNd;

/** Direct convolution (cross-correlation), straight from PyTorch's definition. */
function directConv(module: ConvNd, x: Tensor): { data: number[]; shape: number[] } {
  const [xs, w, ws] = [values(x), values(module.weight.data), module.weight.data.shape];
  const b = module.bias === undefined ? undefined : values(module.bias.data);
  const [n, cout, cinG] = [x.shape[0]!, ws[0]!, ws[1]!];
  const kernel = ws.slice(2);
  const spatial = x.shape.slice(2);
  const { stride, padding, dilation, groups } = module;
  const outSpatial = spatial.map(
    (size, d) => Math.floor((size + 2 * padding[d]! - dilation[d]! * (kernel[d]! - 1) - 1) / stride[d]!) + 1,
  );
  const shape = [n, cout, ...outSpatial];
  const data: number[] = [];
  for (const [s, o, ...j] of indices(shape)) {
    const g = Math.floor(o! / (cout / groups));
    let sum = b === undefined ? 0 : b[o!]!;
    for (let c = 0; c < cinG; c++) {
      for (const kk of indices(kernel)) {
        const at = j.map((jd, d) => jd * stride[d]! + kk[d]! * dilation[d]! - padding[d]!);
        if (at.some((i, d) => i < 0 || i >= spatial[d]!)) continue;
        sum += xs[offsetOf([s!, g * cinG + c, ...at], x.shape)]! * w[offsetOf([o!, c, ...kk], ws)]!;
      }
    }
    data.push(sum);
  }
  return { data, shape };
}

/** Direct transposed convolution: every input element scatters its kernel-weighted copy into the output. */
function directConvTranspose(module: ConvTransposeNd, x: Tensor): { data: number[]; shape: number[] } {
  const [xs, w, ws] = [values(x), values(module.weight.data), module.weight.data.shape];
  const b = module.bias === undefined ? undefined : values(module.bias.data);
  const [n, cin, coutG] = [x.shape[0]!, x.shape[1]!, ws[1]!];
  const kernel = ws.slice(2);
  const spatial = x.shape.slice(2);
  const { stride, padding, dilation, outputPadding, groups } = module;
  const cinG = cin / groups;
  const outSpatial = spatial.map(
    (size, d) => (size - 1) * stride[d]! - 2 * padding[d]! + dilation[d]! * (kernel[d]! - 1) + outputPadding[d]! + 1,
  );
  const shape = [n, coutG * groups, ...outSpatial];
  const data = new Array<number>(shape.reduce((a, c) => a * c, 1)).fill(0);
  if (b !== undefined) for (const [s, o, ...j] of indices(shape)) data[offsetOf([s!, o!, ...j], shape)] = b[o!]!;
  for (const [s, c, ...i] of indices(x.shape)) {
    const g = Math.floor(c! / cinG);
    for (let o = 0; o < coutG; o++) {
      for (const kk of indices(kernel)) {
        const at = i.map((id, d) => id * stride[d]! - padding[d]! + kk[d]! * dilation[d]!);
        if (at.some((j, d) => j < 0 || j >= outSpatial[d]!)) continue;
        data[offsetOf([s!, g * coutG + o, ...at], shape)] +=
          xs[offsetOf([s!, c!, ...i], x.shape)]! * w[offsetOf([c!, o, ...kk], ws)]!;
      }
    }
  }
  return { data, shape };
}

function reference(module: AnyConv, x: Tensor): { data: number[]; shape: number[] } {
  return module.typeName.startsWith('ConvTranspose')
    ? directConvTranspose(module as ConvTransposeNd, x)
    : directConv(module as ConvNd, x);
}

interface Case {
  readonly name: string;
  readonly make: () => AnyConv;
  readonly input: number[];
}

const g = (seed: number) => ({ backend: cpu, generator: new Generator(seed) });

const cases: Case[] = [
  // Conv1d
  { name: 'Conv1d(3, 4, 3), stride 2, padding 1', make: () => new Conv1d(3, 4, 3, { stride: 2, padding: 1, ...g(1) }), input: [2, 3, 7] },
  { name: 'Conv1d(4, 2, 2), dilation 3, groups 2, no bias', make: () => new Conv1d(4, 2, 2, { dilation: 3, groups: 2, bias: false, ...g(2) }), input: [2, 4, 9] },
  // Conv2d
  {
    name: 'Conv2d(4, 6, [3, 2]), stride [2, 1], padding [1, 2], dilation [1, 2], groups 2',
    make: () => new Conv2d(4, 6, [3, 2], { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2, ...g(3) }),
    input: [2, 4, 7, 5],
  },
  { name: 'Conv2d(2, 3, 1), 1x1 kernel, stride 2', make: () => new Conv2d(2, 3, 1, { stride: 2, ...g(4) }), input: [2, 2, 5, 3] },
  { name: 'Conv2d(3, 6, 3), depthwise (groups 3), padding 1', make: () => new Conv2d(3, 6, 3, { groups: 3, padding: 1, ...g(5) }), input: [2, 3, 4, 5] },
  // One window position (L = 1): the summed weight derivative takes the other contraction order.
  { name: 'Conv2d(2, 4, 3), kernel covers the input', make: () => new Conv2d(2, 4, 3, g(6)), input: [2, 2, 3, 3] },
  { name: 'Conv2d(2, 2, [1, 3]), size-1 height', make: () => new Conv2d(2, 2, [1, 3], { padding: [0, 1], ...g(7) }), input: [3, 2, 1, 4] },
  // Conv3d
  {
    name: 'Conv3d(2, 3, [2, 3, 1]), stride [1, 2, 1], padding [1, 0, 1], dilation [2, 1, 1]',
    make: () => new Conv3d(2, 3, [2, 3, 1], { stride: [1, 2, 1], padding: [1, 0, 1], dilation: [2, 1, 1], ...g(8) }),
    input: [2, 2, 4, 5, 3],
  },
  { name: 'Conv3d(2, 2, 2), groups 2, stride 2', make: () => new Conv3d(2, 2, 2, { groups: 2, stride: 2, ...g(9) }), input: [2, 2, 3, 4, 5] },
  // ConvTranspose1d
  {
    name: 'ConvTranspose1d(3, 4, 3), stride 2, padding 1, outputPadding 1',
    make: () => new ConvTranspose1d(3, 4, 3, { stride: 2, padding: 1, outputPadding: 1, ...g(10) }),
    input: [2, 3, 5],
  },
  {
    name: 'ConvTranspose1d(4, 6, 2), stride 3, dilation 2, outputPadding 2, groups 2',
    make: () => new ConvTranspose1d(4, 6, 2, { stride: 3, dilation: 2, outputPadding: 2, groups: 2, ...g(11) }),
    input: [2, 4, 4],
  },
  // Long input, small out/G·K: the summed weight derivative reduces the per-sample result.
  { name: 'ConvTranspose1d(2, 2, 2), groups 2, no bias', make: () => new ConvTranspose1d(2, 2, 2, { groups: 2, bias: false, ...g(12) }), input: [2, 2, 9] },
  // ConvTranspose2d
  {
    name: 'ConvTranspose2d(4, 6, [3, 2]), stride [2, 1], padding [1, 0], dilation [1, 2], outputPadding [1, 1] (>= stride), groups 2',
    make: () =>
      new ConvTranspose2d(4, 6, [3, 2], { stride: [2, 1], padding: [1, 0], dilation: [1, 2], outputPadding: [1, 1], groups: 2, ...g(13) }),
    input: [2, 4, 3, 4],
  },
  { name: 'ConvTranspose2d(2, 3, 3), padding 2 (crops)', make: () => new ConvTranspose2d(2, 3, 3, { padding: 2, ...g(14) }), input: [2, 2, 5, 4] },
  // ConvTranspose3d
  {
    name: 'ConvTranspose3d(2, 2, [2, 2, 3]), stride [2, 1, 1], padding [0, 1, 1], outputPadding [1, 0, 0]',
    make: () => new ConvTranspose3d(2, 2, [2, 2, 3], { stride: [2, 1, 1], padding: [0, 1, 1], outputPadding: [1, 0, 0], ...g(15) }),
    input: [2, 2, 2, 3, 3],
  },
];

/** Extends the module, runs the forward pass and returns the recorded node. */
function record(module: AnyConv, x: Tensor): { node: GraphNode; output: Tensor } {
  extend(module);
  const output = module.forward(x);
  expect(output.producer).toBeDefined();
  return { node: output.producer!, output };
}

describe.each(cases)('$name', ({ make, input }) => {
  it('forward matches a direct convolution loop', () => {
    const module = make();
    const x = randomTensor(input, 1);
    const expected = reference(module, x);
    expectClose(module.forward(x), expected.data, EXACT_RTOL, expected.shape);
  });

  it('float32 forward matches the float64 one', () => {
    const module = make();
    const x = randomTensor(input, 1);
    const expected = values(module.forward(x));
    for (const [, parameter] of module.ownNamedParameters()) parameter.data = t(values(parameter.data), parameter.data.shape, 'float32');
    const y = module.forward(t(values(x), x.shape, 'float32'));
    expect(y.dtype).toBe('float32');
    expectClose(y, expected, 1e-5);
  });

  it.each([1, 3])('jacTMatProd matches finite differences (V = %i)', (v) => {
    const module = make();
    const x = randomTensor(input, 2);
    const { node, output } = record(module, x);
    const jacobian = tensorJacobian((z) => module.forward(z), x);
    const mat = randomTensor([v, ...output.shape], 100);
    expectClose(module.jacTMatProd(node, mat), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...input]);
  });

  it.each([1, 3])('paramJacTMatProd matches finite differences, summed and per sample (V = %i)', (v) => {
    const module = make();
    const x = randomTensor(input, 3);
    const { node, output } = record(module, x);
    const batch = input[0]!;
    const names = module.ownNamedParameters().map(([name]) => name);
    expect(names).toEqual(module.bias === undefined ? ['weight'] : ['weight', 'bias']);
    for (const [name, parameter] of module.ownNamedParameters()) {
      const jacobian = parameterJacobian(parameter, () => module.forward(x));
      const mat = randomTensor([v, ...output.shape], 200);
      const shape = parameter.data.shape;
      expectClose(module.paramJacTMatProd(node, name, mat, { sumBatch: true }), matTimesJacobian(mat.toArray(), jacobian), FD_RTOL, [v, ...shape]);
      expectClose(
        module.paramJacTMatProd(node, name, mat, { sumBatch: false }),
        perSampleMatTimesJacobian(mat.toArray(), jacobian, batch),
        FD_RTOL,
        [v, batch, ...shape],
      );
    }
    expect(() => module.paramJacTMatProd(node, 'scale', randomTensor([v, ...output.shape], 1), { sumBatch: true })).toThrow(
      new RegExp(`${module.typeName} has no parameter 'scale'`),
    );
  });

  it('eaJacTMatJacProd (one Jᵀ M J, as J_n is the same for every sample) is the batch mean of J_nᵀ M J_n', () => {
    const module = make();
    const x = randomTensor(input, 4);
    const { node, output } = record(module, x);
    const jacobian = tensorJacobian((z) => module.forward(z), x);
    const [n, dOut, dIn] = [input[0]!, output.size / input[0]!, x.size / input[0]!];
    const sym = randomSymmetric(dOut, 5);
    expectClose(module.eaJacTMatJacProd(node, t(sym, [dOut, dOut])), batchAveragedJacTMatJac(jacobian, sym, n), FD_RTOL, [dIn, dIn]);
  });
});

describe('eaJacTMatJacProd of a large layer', () => {
  // 1024 outputs x 27 kernel taps: the rows of M go through jacTMatProd in two chunks.
  it('is the same Jᵀ M J when the rows of M go through in chunks', () => {
    const module = new Conv3d(1, 2, 3, { padding: 1, ...g(16) });
    const x = randomTensor([1, 1, 8, 8, 8], 6);
    const { node, output } = record(module, x);
    const jacobian = tensorJacobian((z) => module.forward(z), x);
    const [dOut, dIn] = [output.size, x.size];
    const sym = randomSymmetric(dOut, 7);
    expectClose(module.eaJacTMatJacProd(node, t(sym, [dOut, dOut])), batchAveragedJacTMatJac(jacobian, sym, 1), FD_RTOL, [dIn, dIn]);
  });
});

describe('parameters', () => {
  it('have PyTorch shapes and are initialised in ±1/sqrt(fanIn)', () => {
    const conv = new Conv2d(6, 4, [3, 2], { groups: 2, ...g(1) });
    expect(conv.weight.data.shape).toEqual([4, 3, 3, 2]);
    expect(conv.bias!.data.shape).toEqual([4]);
    const transposed = new ConvTranspose3d(4, 6, [2, 1, 3], { groups: 2, ...g(2) });
    expect(transposed.weight.data.shape).toEqual([4, 3, 2, 1, 3]);
    expect(transposed.bias!.data.shape).toEqual([6]);
    // fanIn: in/groups · K = 18 for the conv, out/groups · K = 18 for the transposed one (weight dim 1).
    for (const module of [conv, transposed]) {
      const bound = 1 / Math.sqrt(18);
      for (const [, p] of module.ownNamedParameters()) {
        const abs = values(p.data).map(Math.abs);
        expect(Math.max(...abs)).toBeLessThanOrEqual(bound);
        expect(Math.max(...abs)).toBeGreaterThan(bound / 2);
      }
    }
    expect(new Conv1d(2, 3, 2, { bias: false, ...g(3) }).ownNamedParameters().map(([name]) => name)).toEqual(['weight']);
  });

  it('are reproducible from the generator and take the dtype option', () => {
    const a = new Conv1d(2, 3, 2, g(7));
    const b = new Conv1d(2, 3, 2, g(7));
    expect(values(a.weight.data)).toEqual(values(b.weight.data));
    const f32 = new ConvTranspose1d(2, 3, 2, { ...g(7), dtype: 'float32' });
    expect(f32.weight.data.dtype).toBe('float32');
    expect(f32.forward(t([1, 2, 3, 4], [1, 2, 2], 'float32')).dtype).toBe('float32');
  });

  it('distinct classes per rank, with PyTorch type names', () => {
    const modules = [new Conv1d(1, 1, 1, { backend: cpu }), new Conv2d(1, 1, 1, { backend: cpu }), new Conv3d(1, 1, 1, { backend: cpu })].map((m) => m.typeName);
    expect(modules).toEqual(['Conv1d', 'Conv2d', 'Conv3d']);
    const transposed = [new ConvTranspose1d(1, 1, 1, { backend: cpu }), new ConvTranspose2d(1, 1, 1, { backend: cpu }), new ConvTranspose3d(1, 1, 1, { backend: cpu })];
    expect(transposed.map((m) => m.typeName)).toEqual(['ConvTranspose1d', 'ConvTranspose2d', 'ConvTranspose3d']);
  });
});

describe('backward through a CNN', () => {
  it('.grad of every parameter matches finite differences of the loss', () => {
    const model = extend(
      new Sequential(
        new Conv2d(2, 4, 3, { padding: 1, stride: 2, ...g(1) }),
        new Tanh(),
        new ConvTranspose2d(4, 2, 2, { stride: 2, groups: 2, ...g(2) }),
        new Conv2d(2, 3, [2, 3], { dilation: [2, 1], ...g(3) }),
        new Flatten(),
        new Linear(3 * 4 * 4, 3, g(4)),
      ),
    );
    const lossFunction = extend(new CrossEntropyLoss());
    const x = randomTensor([3, 2, 5, 5], 5);
    const target = t([0, 2, 1], [3], 'int32');
    const lossOf = () => lossFunction.forward(model.forward(x), target);
    lossOf().backward();
    for (const [name, parameter] of model.namedParameters()) {
      const numeric = parameterJacobian(parameter, lossOf);
      expect(parameter.grad, name).toBeDefined();
      // Differences of an O(1) loss carry ~1e-10 absolute rounding error; these gradients are ~1e-3.
      expectClose(parameter.grad!, numeric.data, 1e-5, parameter.data.shape);
    }
  });
});

describe('errors', () => {
  it('channel counts not divisible by groups, at construction', () => {
    expect(() => new Conv2d(6, 4, 3, { groups: 4 })).toThrow('Conv2d: inChannels (6) must be divisible by groups (4)');
    expect(() => new Conv1d(4, 6, 3, { groups: 4 })).toThrow('Conv1d: outChannels (6) must be divisible by groups (4)');
    expect(() => new ConvTranspose2d(4, 6, 3, { groups: 4 })).toThrow('ConvTranspose2d: outChannels (6) must be divisible by groups (4)');
    expect(() => new Conv2d(4, 4, 3, { groups: 0 })).toThrow('Conv2d: groups must be a positive integer, got 0');
  });

  it('bad kernel, stride, padding or dilation, at construction', () => {
    expect(() => new Conv2d(1, 1, [3])).toThrow(/Conv2d: kernelSize must be .*2.*got \[3\]/);
    expect(() => new Conv3d(1, 1, 3, { stride: 0, backend: cpu })).toThrow(/Conv3d: stride must be an integer >= 1/);
    expect(() => new Conv1d(1, 1, 3, { padding: -1 })).toThrow(/Conv1d: padding must be an integer >= 0/);
    expect(() => new ConvTranspose1d(1, 1, 3, { dilation: 1.5 })).toThrow(/ConvTranspose1d: dilation must be an integer >= 1/);
  });

  it('outputPadding must be smaller than the stride or the dilation', () => {
    expect(() => new ConvTranspose2d(1, 1, 3, { stride: 2, outputPadding: 2 })).toThrow(
      'ConvTranspose2d: outputPadding (2) must be smaller than either stride (2) or dilation (1) in spatial dimension 0',
    );
    expect(() => new ConvTranspose2d(1, 1, 3, { stride: [1, 2], dilation: [3, 2], outputPadding: [2, 2] })).toThrow(
      'ConvTranspose2d: outputPadding (2) must be smaller than either stride (2) or dilation (2) in spatial dimension 1',
    );
    // Smaller than the dilation is enough.
    expect(() => new ConvTranspose1d(1, 1, 3, { stride: 1, dilation: 2, outputPadding: 1, backend: cpu })).not.toThrow();
  });

  it('input channels differ from inChannels, naming the module in its model', () => {
    const model = extend(new Sequential(new ReLU(), new Conv2d(3, 4, 3, g(1))));
    expect(() => model.forward(randomTensor([2, 4, 5, 5], 1))).toThrow(
      "Conv2d '1': input of shape [2, 4, 5, 5] has 4 channels, but the layer expects 3 (weight [4, 3, 3, 3])",
    );
    expect(() => new ConvTranspose1d(2, 3, 2, { backend: cpu }).forward(randomTensor([1, 3, 4], 1))).toThrow(
      'ConvTranspose1d: input of shape [1, 3, 4] has 3 channels, but the layer expects 2 (weight [2, 3, 2])',
    );
  });

  it('wrong input rank: says which layout the module expects', () => {
    expect(() => new Conv2d(3, 4, 3, { backend: cpu }).forward(randomTensor([3, 5, 5], 1))).toThrow(
      'Conv2d expects [N, C, H, W] (batch first, 4 dimensions), got shape [3, 5, 5]',
    );
    expect(() => new Conv1d(3, 4, 3, { backend: cpu }).forward(randomTensor([2, 3, 5, 5], 1))).toThrow(/Conv1d expects \[N, C, L\].*got shape \[2, 3, 5, 5\]/);
    expect(() => new ConvTranspose3d(1, 1, 1, { backend: cpu }).forward(randomTensor([1, 1, 2, 2], 1))).toThrow(
      /ConvTranspose3d expects \[N, C, D, H, W\].*got shape \[1, 1, 2, 2\]/,
    );
  });

  it('kernel larger than the padded input', () => {
    const model = extend(new Sequential(new Conv2d(1, 1, [3, 5], { padding: [0, 1], ...g(1) })));
    expect(() => model.forward(randomTensor([1, 1, 4, 2], 1))).toThrow(
      "Conv2d '0': the kernel spans 5 elements (kernel 5, dilation 1) in spatial dimension 1, but the padded input has only 4 (size 2 + 2 × padding 1)",
    );
    expect(() => new Conv1d(1, 1, 3, { dilation: 3, backend: cpu }).forward(randomTensor([1, 1, 6], 1))).toThrow(
      /Conv1d: the kernel spans 7 elements \(kernel 3, dilation 3\)/,
    );
  });

  it('transposed convolution whose output would be empty', () => {
    expect(() => new ConvTranspose1d(1, 1, 1, { padding: 2, backend: cpu }).forward(randomTensor([1, 1, 2], 1))).toThrow(
      /ConvTranspose1d: input of shape \[1, 1, 2\] gives output size \[-2\].*every size must be at least 1/,
    );
  });

  it('int32 input', () => {
    expect(() => new Conv1d(1, 1, 1, { backend: cpu }).forward(t([1, 2], [1, 1, 2], 'int32'))).toThrow(/Conv1d: expects a float input, got int32/);
  });
});
