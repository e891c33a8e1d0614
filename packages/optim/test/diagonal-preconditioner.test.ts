/**
 * DiagonalPreconditioner: its rule against a plain reimplementation on number
 * arrays over several steps; a step with the true GGN diagonal (computed by
 * the extensions, checked against the closed form of a linear model under
 * MSE, where GGN = Hessian); and refusals that change nothing.
 */
import { MSELoss, Linear, Generator, backpack, extend, tensor, type Parameter } from '@backpack-ts/core';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { describe, expect, it } from 'vitest';
import { DiagonalPreconditioner, type DiagonalCurvature, type DiagonalPreconditionerOptions } from '../src/index.js';
import { F64, expectClose, setField, setGrad, smallLayer, syntheticGradient, valuesOf } from './helpers/arrays.js';

/** A positive stand-in for a curvature diagonal at θ: `θᵢ² + (i mod 3)/2`, zero where i ≡ 0 and θᵢ = 0. */
const syntheticDiagonal = (theta: readonly number[]) => theta.map((t, i) => t * t + (i % 3) / 2);

/** The documented rule on arrays: one step. */
function referenceStep(theta: number[], grad: number[], diagonal: number[], buffer: number[] | undefined, o: Required<DiagonalPreconditionerOptions>) {
  const d = grad.map((g, i) => (g + o.weightDecay * theta[i]!) / (diagonal[i]! + o.damping));
  const b = o.momentum === 0 || buffer === undefined ? d : buffer.map((bi, i) => o.momentum * bi + d[i]!);
  return { theta: theta.map((t, i) => t - o.lr * b[i]!), buffer: b };
}

describe('DiagonalPreconditioner', () => {
  const cases: DiagonalPreconditionerOptions[] = [
    { curvature: 'diagGgnExact', lr: 0.5, damping: 0.1 },
    { curvature: 'diagGgnMc', lr: 0.2, damping: 1, weightDecay: 0.05 },
    { curvature: 'diagH', lr: 0.1, damping: 0.3, momentum: 0.9, weightDecay: 0.01 },
  ];
  for (const options of cases) {
    it(`follows its rule over 6 steps: ${JSON.stringify(options)}`, () => {
      const layer = smallLayer(4);
      const parameters = layer.parameters();
      const optimizer = new DiagonalPreconditioner(layer, options);
      let expected = parameters.map((p) => ({ theta: valuesOf(p), buffer: undefined as number[] | undefined }));
      for (let step = 0; step < 6; step++) {
        for (const p of parameters) {
          setGrad(p, syntheticGradient(valuesOf(p)));
          setField(p, options.curvature, syntheticDiagonal(valuesOf(p)));
        }
        expected = expected.map((e) =>
          referenceStep(e.theta, syntheticGradient(e.theta), syntheticDiagonal(e.theta), e.buffer, { weightDecay: 0, momentum: 0, ...options }),
        );
        optimizer.step();
        parameters.forEach((p, i) => expectClose(valuesOf(p), expected[i]!.theta, 1e-12));
      }
    });
  }

  for (const [curvature, Extension] of [['diagGgnExact', DiagGGNExact], ['diagH', DiagHessian]] as const) {
    it(`steps with the true ${curvature} of a linear model under MSE (closed form 2/(N·D) Σ x², 2/D for the bias)`, () => {
      const [n, inputs, outputs] = [5, 3, 2];
      const generator = new Generator(7);
      const layer = extend(new Linear(inputs, outputs, { ...F64, generator }));
      const lossFunction = extend(new MSELoss());
      const x = Array.from({ length: n * inputs }, (_, i) => Math.cos(1.3 * i));
      const t = Array.from({ length: n * outputs }, (_, i) => Math.sin(0.7 * i));
      const [w, b] = [valuesOf(layer.parameter('weight')), valuesOf(layer.parameter('bias'))];

      const loss = lossFunction.forward(layer.forward(tensor(x, [n, inputs], F64)), tensor(t, [n, outputs], F64));
      backpack([new Extension()], () => loss.backward());
      new DiagonalPreconditioner(layer, { curvature, lr: 0.7, damping: 0.05 }).step();

      const scale = 2 / (n * outputs);
      const residual = (s: number, o: number) => b[o]! + [...Array(inputs).keys()].reduce((acc, i) => acc + w[o * inputs + i]! * x[s * inputs + i]!, 0) - t[s * outputs + o]!;
      const samples = [...Array(n).keys()];
      const expectedWeight = w.map((value, k) => {
        const [o, i] = [Math.floor(k / inputs), k % inputs];
        const gradient = scale * samples.reduce((acc, s) => acc + residual(s, o) * x[s * inputs + i]!, 0);
        const diagonal = scale * samples.reduce((acc, s) => acc + x[s * inputs + i]! ** 2, 0);
        return value - (0.7 * gradient) / (diagonal + 0.05);
      });
      const expectedBias = b.map((value, o) => {
        const gradient = scale * samples.reduce((acc, s) => acc + residual(s, o), 0);
        return value - (0.7 * gradient) / (scale * n + 0.05);
      });
      expectClose(valuesOf(layer.parameter('weight')), expectedWeight, 1e-12);
      expectClose(valuesOf(layer.parameter('bias')), expectedBias, 1e-12);
    });
  }

  describe('refuses before changing any parameter', () => {
    /** A layer whose weight has a gradient and a positive diagonal; `prepareBias` decides what the bias has. */
    function refused(curvature: DiagonalCurvature, prepareBias: (bias: Parameter) => void, message: RegExp, damping = 0.1) {
      const layer = smallLayer(5);
      const [weight, bias] = [layer.parameter('weight'), layer.parameter('bias')];
      for (const p of [weight, bias]) setGrad(p, syntheticGradient(valuesOf(p)));
      setField(weight, curvature, syntheticDiagonal(valuesOf(weight)));
      prepareBias(bias);
      const before = layer.namedParameters().map(([name, p]) => [name, valuesOf(p), p.version]);
      const optimizer = new DiagonalPreconditioner(layer.namedParameters(), { curvature, lr: 0.1, damping });
      expect(() => optimizer.step()).toThrow(message);
      expect(layer.namedParameters().map(([name, p]) => [name, valuesOf(p), p.version])).toEqual(before);
    }

    it('when a parameter has no diagonal, naming the extension to run', () => {
      refused('diagGgnExact', () => {}, /^DiagonalPreconditioner: parameter 'bias' has no diagGgnExact; run backward with extensions: \[new DiagGGNExact\(\)\]$/);
      refused('diagGgnMc', () => {}, /parameter 'bias' has no diagGgnMc; run backward with extensions: \[new DiagGGNMC\(\)\]/);
      refused('diagH', () => {}, /parameter 'bias' has no diagH; run backward with extensions: \[new DiagHessian\(\)\]/);
    });

    it('when diagonal + damping is not positive somewhere (a Hessian diagonal can be negative)', () => {
      refused(
        'diagH',
        (bias) => setField(bias, 'diagH', [0.5, -0.25]),
        /^DiagonalPreconditioner: parameter 'bias': diagH \+ damping must be positive, but its smallest entry is -0\.25 and damping 0\.1; raise damping or use a GGN diagonal$/,
      );
      refused('diagGgnExact', (bias) => setField(bias, 'diagGgnExact', [0, 1]), /diagGgnExact \+ damping must be positive, but its smallest entry is 0 and damping 0/, 0);
    });

    it('when the diagonal was disposed or has the wrong shape', () => {
      refused(
        'diagH',
        (bias) => {
          setField(bias, 'diagH', [1, 1]);
          bias.diagH!.dispose();
        },
        /DiagonalPreconditioner: the diagH of parameter 'bias' was disposed/,
      );
      refused(
        'diagH',
        (bias) => {
          bias.diagH = tensor([1, 1, 1], [3], F64);
        },
        /DiagonalPreconditioner: the diagH of parameter 'bias' has shape \[3\], expected \[2\]/,
      );
    });
  });
});
