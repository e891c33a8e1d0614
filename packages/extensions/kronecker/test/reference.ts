/**
 * An independent reference for the Kronecker factors, in plain JavaScript
 * float64 arithmetic with explicit matrices: no core op, no module
 * derivative, no extension code. Networks are chains of layers applied to
 * each sample separately; every per-sample Jacobian is built as a dense
 * matrix and multiplied out.
 *
 * Definitions (N samples; a Linear layer's per-sample input `[S, in]`, i.e.
 * S positions, S = 1 without extra dimensions):
 * - J_{k,n}: Jacobian of the network output w.r.t. the output of layer k;
 *   H_n: Hessian of the loss w.r.t. the network output of sample n, with the
 *   reduction's factor.
 * - KFLR: G = Σ_n Σ_s [J_{k,n}ᵀ H_n J_{k,n}]_{(s,·),(s,·)}, A = (1/(N S)) Σ_{n,s} x xᵀ.
 * - KFRA: M_L = Σ_n H_n; M_{in} = (1/N) Σ_n Jac_nᵀ M_{out} Jac_n (+ residual),
 *   G = Σ_s M_{(s,·),(s,·)} at the layer's output.
 * - Convolutions (and transposed ones; output `[C, ...spatial]`, B the
 *   `[C·P x C]` Jacobian of a per-channel bias): G = Σ_n Bᵀ GGN_n B (KFLR),
 *   Bᵀ M B (KFRA); A = (1/N) Σ_n U_n U_nᵀ with U_n the unfolded input
 *   `[C_in·K, L]` (reference-layers.ts). With G > 1 groups, per group: the
 *   diagonal block of G and the group's rows of U, stacked.
 * - BatchNorm (evaluation): weight Σ_n J_γ,nᵀ GGN_n J_γ,n (KFLR),
 *   (1/N) Σ_n J_γ,nᵀ M J_γ,n (KFRA); bias as a convolution's G.
 */

import {
  batchNormForward,
  batchNormJacobian,
  batchNormWeightJacobian,
  channelSumJacobian,
  convForward,
  convJacobian,
  convOutSpatial,
  convUnfold,
  product,
  type BatchNormSpec,
  type ConvSpec,
} from './reference-layers.js';

export type Matrix = number[][];

/** A tensor as the golden files store it (row-major data and a shape). */
export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

export interface Activation {
  readonly f: (x: number) => number;
  readonly df: (x: number) => number;
  readonly d2f: (x: number) => number;
}

export type RefLayer =
  | { readonly kind: 'linear'; readonly weight: Matrix; readonly bias?: readonly number[] }
  | { readonly kind: 'elementwise'; readonly activation: Activation }
  /** Flatten, Identity, Dropout in evaluation mode. */
  | { readonly kind: 'identity' }
  /** Multiplies sample n elementwise by `factors[n]` (Dropout in training mode with its mask). */
  | { readonly kind: 'scale'; readonly factors: readonly (readonly number[])[] }
  /** A parameter-free layer given by its forward pass and Jacobian (pooling, padding). */
  | { readonly kind: 'map'; readonly forward: (x: readonly number[]) => number[]; readonly jacobian: (x: readonly number[]) => Matrix }
  /** A convolution or transposed convolution (reference-layers.ts). */
  | { readonly kind: 'conv'; readonly spec: ConvSpec }
  /** BatchNorm in evaluation mode. */
  | { readonly kind: 'batchnorm'; readonly spec: BatchNormSpec }
  /** An embedding table `[num, dim]`; the first layer only (its input holds indices). */
  | { readonly kind: 'embedding'; readonly table: Matrix };

export type RefLossKind = 'CrossEntropyLoss' | 'MSELoss' | 'BCEWithLogitsLoss';

export interface RefLoss {
  readonly kind: RefLossKind;
  readonly reduction: 'mean' | 'sum';
}

export interface RefProblem {
  readonly layers: readonly RefLayer[];
  readonly loss: RefLoss;
  /** Shape of one input sample (without the batch dimension); Linear layers act on its last dimension. */
  readonly sampleShape: readonly number[];
  /** One flat array per sample. */
  readonly inputs: readonly (readonly number[])[];
  /** Per sample: the class index (CrossEntropyLoss) or a flat array like the output. */
  readonly targets: readonly (number | readonly number[])[];
}

export type Curvature = 'ggn' | 'hessian' | 'pch-abs' | 'pch-clip';

/**
 * The factors of one layer: `weight` and `bias` as the extensions store them
 * (lists of tensors); for Linear also `g` (output side, the bias factor) and
 * `a` (input side).
 */
export interface RefLayerFactors {
  readonly g: Matrix;
  readonly a: Matrix;
  readonly weight: readonly RefTensor[];
  readonly bias: readonly RefTensor[];
}

export interface RefFactors {
  readonly kflr: RefLayerFactors;
  readonly kfra: RefLayerFactors;
}

// ---- small dense linear algebra ----

export function zerosMatrix(rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
}

export function identityMatrix(n: number): Matrix {
  const m = zerosMatrix(n, n);
  for (let i = 0; i < n; i++) m[i]![i] = 1;
  return m;
}

export function matMul(a: Matrix, b: Matrix): Matrix {
  const [rows, inner, cols] = [a.length, b.length, b[0]!.length];
  const out = zerosMatrix(rows, cols);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < inner; k++) {
      const aik = a[i]![k]!;
      if (aik === 0) continue;
      for (let j = 0; j < cols; j++) out[i]![j]! += aik * b[k]![j]!;
    }
  }
  return out;
}

export function transposeMatrix(a: Matrix): Matrix {
  return a[0]!.map((_, j) => a.map((row) => row[j]!));
}

export function addInto(target: Matrix, m: Matrix, scale = 1): void {
  for (let i = 0; i < target.length; i++) for (let j = 0; j < target[i]!.length; j++) target[i]![j]! += scale * m[i]![j]!;
}

/** `Jᵀ M J`. */
export function sandwich(jac: Matrix, m: Matrix): Matrix {
  return matMul(transposeMatrix(jac), matMul(m, jac));
}

/** Σ_s of the diagonal `[features x features]` blocks of a `[S·features]²` matrix (index (s, o), row-major). */
export function diagonalBlockSum(m: Matrix, features: number): Matrix {
  const positions = m.length / features;
  const out = zerosMatrix(features, features);
  for (let s = 0; s < positions; s++) {
    for (let o = 0; o < features; o++) for (let p = 0; p < features; p++) out[o]![p]! += m[s * features + o]![s * features + p]!;
  }
  return out;
}

/** A matrix as a tensor. */
export function matrixTensor(m: Matrix): RefTensor {
  return { shape: [m.length, m[0]?.length ?? 0], data: m.flat() };
}

/** Matrices of equal shape stacked along a new leading axis. */
export function stackTensor(ms: readonly Matrix[]): RefTensor {
  return { shape: [ms.length, ms[0]!.length, ms[0]![0]?.length ?? 0], data: ms.flatMap((m) => m.flat()) };
}

/** Rows and columns `[from, from + size)` of a square matrix. */
export function subMatrix(m: Matrix, from: number, size: number): Matrix {
  return m.slice(from, from + size).map((row) => row.slice(from, from + size));
}

/** Row-major matrix from flat data. */
export function toMatrix(data: ArrayLike<number>, rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => data[i * cols + j]!));
}

// ---- activations, written out independently of core ----

const sigma = (x: number): number => 1 / (1 + Math.exp(-x));
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

export function activation(type: string, args: Readonly<Record<string, unknown>> = {}): Activation {
  switch (type) {
    case 'ReLU':
      return { f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0), d2f: () => 0 };
    case 'Sigmoid':
      return {
        f: sigma,
        df: (x) => sigma(x) * (1 - sigma(x)),
        d2f: (x) => sigma(x) * (1 - sigma(x)) * (1 - 2 * sigma(x)),
      };
    case 'Tanh':
      return { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2, d2f: (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2) };
    case 'LeakyReLU': {
      const slope = (args['negative_slope'] as number | undefined) ?? 0.01;
      return { f: (x) => (x > 0 ? x : slope * x), df: (x) => (x > 0 ? 1 : slope), d2f: () => 0 };
    }
    case 'ELU':
    case 'SELU': {
      const alpha = type === 'SELU' ? SELU_ALPHA : ((args['alpha'] as number | undefined) ?? 1);
      const scale = type === 'SELU' ? SELU_SCALE : 1;
      return {
        f: (x) => scale * (x > 0 ? x : alpha * (Math.exp(x) - 1)),
        df: (x) => scale * (x > 0 ? 1 : alpha * Math.exp(x)),
        d2f: (x) => (x > 0 ? 0 : scale * alpha * Math.exp(x)),
      };
    }
    case 'LogSigmoid':
      return { f: (x) => Math.log(sigma(x)), df: (x) => sigma(-x), d2f: (x) => -sigma(x) * (1 - sigma(x)) };
    default:
      throw new Error(`reference: no activation '${type}'`);
  }
}

// ---- forward and Jacobians of one sample ----

function applyLayer(layer: RefLayer, x: readonly number[], sample: number): number[] {
  switch (layer.kind) {
    case 'linear': {
      const [out, inF] = [layer.weight.length, layer.weight[0]!.length];
      const positions = x.length / inF;
      const y: number[] = [];
      for (let s = 0; s < positions; s++) {
        for (let o = 0; o < out; o++) {
          let v = layer.bias?.[o] ?? 0;
          for (let i = 0; i < inF; i++) v += layer.weight[o]![i]! * x[s * inF + i]!;
          y.push(v);
        }
      }
      return y;
    }
    case 'elementwise':
      return x.map(layer.activation.f);
    case 'identity':
      return [...x];
    case 'scale':
      return x.map((v, i) => v * layer.factors[sample]![i]!);
    case 'map':
      return layer.forward(x);
    case 'conv':
      return convForward(layer.spec, x);
    case 'batchnorm':
      return batchNormForward(layer.spec, x);
    case 'embedding':
      return x.flatMap((index) => [...layer.table[index]!]);
  }
}

/** Convolution Jacobians do not depend on the input: computed once per spec. */
const convJacobians = new WeakMap<ConvSpec, Matrix>();

/** Jacobian `[D_out x D_in]` of the layer at input x of sample `sample`. */
function layerJacobian(layer: RefLayer, x: readonly number[], sample: number): Matrix {
  switch (layer.kind) {
    case 'linear': {
      const [out, inF] = [layer.weight.length, layer.weight[0]!.length];
      const positions = x.length / inF;
      const jac = zerosMatrix(positions * out, positions * inF);
      for (let s = 0; s < positions; s++) {
        for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) jac[s * out + o]![s * inF + i] = layer.weight[o]![i]!;
      }
      return jac;
    }
    case 'elementwise': {
      const jac = zerosMatrix(x.length, x.length);
      x.forEach((v, i) => (jac[i]![i] = layer.activation.df(v)));
      return jac;
    }
    case 'identity':
      return identityMatrix(x.length);
    case 'scale': {
      const jac = zerosMatrix(x.length, x.length);
      x.forEach((_, i) => (jac[i]![i] = layer.factors[sample]![i]!));
      return jac;
    }
    case 'map':
      return layer.jacobian(x);
    case 'conv': {
      let jac = convJacobians.get(layer.spec);
      if (jac === undefined) convJacobians.set(layer.spec, (jac = convJacobian(layer.spec)));
      return jac;
    }
    case 'batchnorm':
      return batchNormJacobian(layer.spec, x.length);
    case 'embedding':
      throw new Error('reference: an embedding has no Jacobian w.r.t. its indices (it must be the first layer)');
  }
}

// ---- losses ----

/** `terms`: the losses per sample that `mean` averages over (positions for CrossEntropyLoss, entries otherwise). */
function reductionScale(loss: RefLoss, n: number, terms: number): number {
  return loss.reduction === 'sum' ? 1 : 1 / (n * terms);
}

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Gradient and Hessian of the loss w.r.t. one sample's output, with the reduction's factor. */
function lossDerivatives(
  loss: RefLoss,
  output: readonly number[],
  target: number | readonly number[],
  n: number,
): { grad: number[]; hessian: Matrix } {
  const d = output.length;
  const hessian = zerosMatrix(d, d);
  switch (loss.kind) {
    case 'CrossEntropyLoss': {
      // Output [C, L] (classes first, L positions), one class index per position.
      const targets = typeof target === 'number' ? [target] : target;
      const positions = targets.length;
      const classes = d / positions;
      const scale = reductionScale(loss, n, positions);
      const grad = new Array<number>(d).fill(0);
      for (let l = 0; l < positions; l++) {
        const at = (c: number) => c * positions + l;
        const p = softmax(Array.from({ length: classes }, (_, c) => output[at(c)]!));
        p.forEach((v, c) => (grad[at(c)] = scale * (v - (c === targets[l] ? 1 : 0))));
        for (let i = 0; i < classes; i++) for (let j = 0; j < classes; j++) hessian[at(i)]![at(j)] = scale * ((i === j ? p[i]! : 0) - p[i]! * p[j]!);
      }
      return { grad, hessian };
    }
    case 'MSELoss': {
      const scale = reductionScale(loss, n, d);
      const t = target as readonly number[];
      for (let i = 0; i < d; i++) hessian[i]![i] = 2 * scale;
      return { grad: output.map((v, i) => 2 * scale * (v - t[i]!)), hessian };
    }
    case 'BCEWithLogitsLoss': {
      const scale = reductionScale(loss, n, d);
      const t = target as readonly number[];
      output.forEach((v, i) => (hessian[i]![i] = scale * sigma(v) * (1 - sigma(v))));
      return { grad: output.map((v, i) => scale * (sigma(v) - t[i]!)), hessian };
    }
  }
}

function modifyResidual(r: number, curvature: Curvature): number {
  if (curvature === 'pch-abs') return Math.abs(r);
  if (curvature === 'pch-clip') return Math.max(r, 0);
  return r;
}

export interface RefResult {
  /** Network output per sample. */
  readonly outputs: readonly (readonly number[])[];
  /** Kronecker factors of each layer with parameters, by layer index. */
  readonly factors: ReadonlyMap<number, RefFactors>;
  /** Per layer k and sample n, the gradient of the loss w.r.t. layer k's output. */
  readonly gradients: readonly (readonly (readonly number[])[])[];
  /** Per layer k and sample n, the exact GGN `J_{k,n}ᵀ H_n J_{k,n}` w.r.t. layer k's output. */
  readonly ggn: (layer: number, sample: number) => Matrix;
}

/** Forward pass, per-sample Jacobians, KFLR and KFRA (with `curvature`) of every Linear layer. */
export function referenceKronecker(problem: RefProblem, curvature: Curvature = 'ggn'): RefResult {
  const { layers, loss, inputs, targets } = problem;
  const n = inputs.length;
  // Activations: acts[k][n] is the input of layer k of sample n (acts[L] the output).
  const acts: number[][][] = [inputs.map((x) => [...x])];
  layers.forEach((layer, k) => {
    acts.push(acts[k]!.map((x, sample) => applyLayer(layer, x, sample)));
  });
  const outputs = acts[layers.length]!;
  const derivatives = outputs.map((y, sample) => lossDerivatives(loss, y, targets[sample]!, n));

  // jacobians[k][n]: d network output / d output of layer k.
  const jacobians: Matrix[][] = new Array(layers.length);
  jacobians[layers.length - 1] = outputs.map((y) => identityMatrix(y.length));
  for (let k = layers.length - 1; k > 0; k--) {
    jacobians[k - 1] = jacobians[k]!.map((j, sample) => matMul(j, layerJacobian(layers[k]!, acts[k]![sample]!, sample)));
  }
  const gradients = jacobians.map((perSample) =>
    perSample.map((j, sample) => matMul(transposeMatrix(j), derivatives[sample]!.grad.map((g) => [g])).map((row) => row[0]!)),
  );

  const linearInputFactor = (k: number): Matrix => {
    const inF = (layers[k] as { weight: Matrix }).weight[0]!.length;
    const a = zerosMatrix(inF, inF);
    let rows = 0;
    for (const x of acts[k]!) {
      for (let s = 0; s < x.length / inF; s++, rows++) {
        for (let i = 0; i < inF; i++) for (let j = 0; j < inF; j++) a[i]![j]! += x[s * inF + i]! * x[s * inF + j]!;
      }
    }
    return a.map((row) => row.map((v) => v / rows));
  };

  /** Per group: (1/N) Σ_n U_n U_nᵀ over the group's rows of the unfolded input. */
  const convInputFactors = (k: number, spec: ConvSpec): Matrix[] => {
    const rows = (spec.inChannels / spec.groups) * product(spec.kernel);
    const total = zerosMatrix(spec.inChannels * product(spec.kernel), spec.inChannels * product(spec.kernel));
    for (const x of acts[k]!) {
      const u = convUnfold(spec, x);
      addInto(total, matMul(u, transposeMatrix(u)), 1 / n);
    }
    return Array.from({ length: spec.groups }, (_, g) => subMatrix(total, g * rows, rows));
  };

  /**
   * The factors of layer k from the curvature at its output: `project(Q)` is
   * `Σ_n Qᵀ GGN_n Q` (KFLR) or `(1/N) Σ_n Qᵀ M Q` (KFRA) for a per-sample
   * output-side Jacobian Q (a `[D_out x r]` matrix, given per sample).
   */
  const layerFactors = (
    k: number,
    project: (q: (sample: number) => Matrix) => Matrix,
    linearOutput: () => Matrix,
    embeddingOutput: (features: number) => Matrix = linearOutput,
  ): RefLayerFactors | undefined => {
    const layer = layers[k]!;
    if (layer.kind === 'linear') {
      const g = linearOutput();
      const a = linearInputFactor(k);
      return { g, a, weight: [matrixTensor(g), matrixTensor(a)], bias: layer.bias === undefined ? [] : [matrixTensor(g)] };
    }
    if (layer.kind === 'conv') {
      const { spec } = layer;
      const b = channelSumJacobian(spec.outChannels, product(convOutSpatial(spec)));
      const g = project(() => b);
      const inputs = convInputFactors(k, spec);
      const outG = spec.outChannels / spec.groups;
      const weight =
        spec.groups === 1
          ? [matrixTensor(g), matrixTensor(inputs[0]!)]
          : [stackTensor(inputs.map((_, i) => subMatrix(g, i * outG, outG))), stackTensor(inputs)];
      return { g, a: inputs[0]!, weight, bias: spec.bias === undefined ? [] : [matrixTensor(g)] };
    }
    if (layer.kind === 'batchnorm') {
      const { spec } = layer;
      const b = channelSumJacobian(spec.channels, spec.positions);
      const g = project(() => b);
      const gamma = project((sample) => batchNormWeightJacobian(spec, acts[k]![sample]!));
      return { g, a: [], weight: [matrixTensor(gamma)], bias: [matrixTensor(g)] };
    }
    if (layer.kind === 'embedding') {
      // Linear on one-hot rows: A = frequencies of the indices, G over the dim features; stored [A, G].
      const [num, dim] = [layer.table.length, layer.table[0]!.length];
      const a = zerosMatrix(num, num);
      let rows = 0;
      for (const x of acts[k]!) for (const index of x) (a[index]![index]! += 1), rows++;
      const frequencies = a.map((row) => row.map((v) => v / rows));
      const g = embeddingOutput(dim);
      return { g, a: frequencies, weight: [matrixTensor(frequencies), matrixTensor(g)], bias: [] };
    }
    return undefined;
  };

  // KFLR from the exact per-sample GGN w.r.t. each layer's output.
  const kflr = new Map<number, RefLayerFactors>();
  layers.forEach((layer, k) => {
    const perSample = jacobians[k]!.map((j, sample) => sandwich(j, derivatives[sample]!.hessian));
    const project = (q: (sample: number) => Matrix): Matrix => {
      const first = q(0);
      const out = zerosMatrix(first[0]!.length, first[0]!.length);
      perSample.forEach((ggnN, sample) => addInto(out, sandwich(q(sample), ggnN)));
      return out;
    };
    const blockSum = (features: number) => {
      const total = zerosMatrix(perSample[0]!.length, perSample[0]!.length);
      for (const ggnN of perSample) addInto(total, ggnN);
      return diagonalBlockSum(total, features);
    };
    const result = layerFactors(k, project, () => blockSum((layer as { weight: Matrix }).weight.length), blockSum);
    if (result !== undefined) kflr.set(k, result);
  });

  // KFRA: the recursion of batch-averaged matrices, from the summed loss Hessian.
  const factors = new Map<number, RefFactors>();
  const dOut = outputs[0]!.length;
  let m = zerosMatrix(dOut, dOut);
  for (const { hessian } of derivatives) addInto(m, hessian);
  for (let k = layers.length - 1; k >= 0; k--) {
    const layer = layers[k]!;
    const atOutput = m;
    const project = (q: (sample: number) => Matrix): Matrix => {
      const first = q(0);
      const out = zerosMatrix(first[0]!.length, first[0]!.length);
      for (let sample = 0; sample < n; sample++) addInto(out, sandwich(q(sample), atOutput), 1 / n);
      return out;
    };
    const kfra = layerFactors(
      k,
      project,
      () => diagonalBlockSum(atOutput, (layer as { weight: Matrix }).weight.length),
      (features) => diagonalBlockSum(atOutput, features),
    );
    if (kfra !== undefined) factors.set(k, { kflr: kflr.get(k)!, kfra });
    if (k === 0) break; // nothing upstream (the input may be indices)
    const dIn = acts[k]![0]!.length;
    const next = zerosMatrix(dIn, dIn);
    acts[k]!.forEach((x, sample) => addInto(next, sandwich(layerJacobian(layer, x, sample), m), 1 / n));
    if (curvature !== 'ggn' && layer.kind === 'elementwise') {
      for (let i = 0; i < dIn; i++) {
        let r = 0;
        acts[k]!.forEach((x, sample) => (r += layer.activation.d2f(x[i]!) * gradients[k]![sample]![i]!));
        next[i]![i]! += modifyResidual(r, curvature);
      }
    }
    m = next;
  }
  const ggn = (layer: number, sample: number): Matrix => sandwich(jacobians[layer]![sample]!, derivatives[sample]!.hessian);
  return { outputs, factors, gradients, ggn };
}

/** Largest |a - b| over the largest |b| (the conformance package's measure). */
export function relativeError(actual: Matrix | readonly number[], expected: Matrix | readonly number[]): number {
  const a = (actual as (number | number[])[]).flat();
  const b = (expected as (number | number[])[]).flat();
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let [err, scale] = [0, 0];
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return Number.isNaN(err) ? Number.NaN : err / Math.max(scale, 1e-300);
}
