/**
 * What the page computes, without the page: DP-SGD on MNIST from per-sample
 * gradients, and the first layer's GGN and Hessian diagonals. The page and
 * the Node tests run this same code.
 */
import {
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  ReLU,
  Sequential,
  Tanh,
  Tensor,
  add,
  backpack,
  extend,
  keep,
  mul,
  reshape,
  sqrt,
  sub,
  sum,
  tensor,
  tidy,
  type Backend,
  type FloatDType,
  type Module,
} from '@backpack-ts/core';
import { DiagGGNExact } from '@backpack-ts/diag-ggn';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { BatchGrad, BatchL2Grad } from '@backpack-ts/first-order';
import { loadMnistBatch, type MnistBatch } from '@backpack-ts/mnist';

/** Activation of the hidden layer. With ReLU the Hessian diagonal equals the GGN diagonal; with Tanh it does not. */
export type Activation = 'relu' | 'tanh';

export interface DpSgdOptions {
  readonly backend: Backend;
  readonly dtype: FloatDType;
  readonly batchSize: number;
  /** C: every per-sample gradient is scaled down to at most this L2 norm (all parameters together). */
  readonly clipNorm: number;
  /** σ: the summed clipped gradients get Gaussian noise of standard deviation σ·C per coordinate. */
  readonly noiseMultiplier: number;
  readonly learningRate: number;
  /** Units of the hidden layer (default 32). */
  readonly hidden?: number;
  readonly activation: Activation;
  /** Seeds the initial weights, the order of the digits and the noise: the same seed gives the same run on every backend. */
  readonly seed: number;
}

/** One DP-SGD step. */
export interface StepResult {
  /** Steps taken so far, this one included. */
  readonly step: number;
  /** Mean cross-entropy of the batch, before the update. */
  readonly loss: number;
  /** L2 norm of each sample's gradient (all parameters), before clipping: from BatchL2Grad. */
  readonly normsBefore: Float64Array;
  /** The same after clipping, measured in float64 on the clipped per-sample gradients themselves (from BatchGrad). */
  readonly normsAfter: Float64Array;
}

/** The first layer's curvature, per input pixel: the weight's diagonal summed over the hidden units. */
export interface Curvature {
  /** Σ_j diag GGN of W1[j, p], p = 0..783 (28 x 28, row-major). */
  readonly ggn: Float64Array;
  /** Σ_j diag Hessian of W1[j, p]. */
  readonly hessian: Float64Array;
}

/**
 * How far below C the clipping aims, relative to C. BatchL2Grad's float32
 * norms are within about 4e-6 of the float64 norm of the same per-sample
 * gradients (measured on this network), float64 ones within about 1e-15:
 * aiming this much lower keeps every clipped gradient's norm at most C.
 */
const CLIP_MARGIN: Readonly<Record<FloatDType, number>> = { float32: 1e-5, float64: 1e-12 };

/** Adds the squared norm of each sample's row of `values` (`[N, ...]`, row-major) to `into` (`[N]`), in float64. */
function addSquaredNorms(values: ArrayLike<number>, into: Float64Array): void {
  const size = values.length / into.length;
  for (let n = 0; n < into.length; n++) {
    let total = 0;
    for (let k = n * size; k < (n + 1) * size; k++) total += values[k]! * values[k]!;
    into[n] += total;
  }
}

/** Throws unless `value` is a finite number > 0 (>= 0 with `allowZero`), naming the option. */
function checkPositive(name: string, value: number, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${value}`);
  }
}

/**
 * DP-SGD (Abadi et al., 2016) on `Flatten - Linear(784, hidden) - activation
 * - Linear(hidden, 10)` with a summed cross-entropy, so that BatchGrad's
 * per-sample gradients are those of each sample's own loss.
 */
export class DpSgdTrainer {
  readonly options: DpSgdOptions;
  readonly model: Module;
  /** The first layer, whose curvature the page draws. */
  readonly first: Linear;
  private readonly lossFunction = extend(new CrossEntropyLoss('sum'));
  private readonly noise: Generator;
  private steps = 0;
  /** The digits of the last step, for the curvature pass. */
  private lastBatch: MnistBatch | undefined;

  constructor(options: DpSgdOptions) {
    const { backend, dtype, batchSize, hidden = 32, seed } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    checkPositive('clipping norm C', options.clipNorm);
    checkPositive('noise multiplier σ', options.noiseMultiplier, true);
    checkPositive('learning rate', options.learningRate);
    this.options = options;
    const generator = new Generator(seed);
    this.first = new Linear(784, hidden, { backend, dtype, generator });
    const activation = options.activation === 'relu' ? new ReLU() : new Tanh();
    this.model = extend(new Sequential(new Flatten(), this.first, activation, new Linear(hidden, 10, { backend, dtype, generator })));
    this.noise = new Generator(seed + 1);
  }

  private upload(batch: MnistBatch): { x: Tensor; y: Tensor } {
    const { backend, dtype } = this.options;
    return {
      x: tensor(batch.pixels, batch.shape, { backend, dtype }),
      y: tensor(batch.labels, [batch.labels.length], { backend, dtype: 'int32' }),
    };
  }

  /**
   * One step on the next batch of the seeded order: per-sample gradients g_n
   * and their squared norms in one backward pass (BatchGrad, BatchL2Grad),
   * g_n scaled to norm min(‖g_n‖, C) (a hair below C, see CLIP_MARGIN),
   * summed, plus N(0, σ²C²) noise, divided by the batch size, and a
   * gradient step.
   */
  train(): StepResult {
    const { backend, batchSize, clipNorm, noiseMultiplier, learningRate, dtype, seed } = this.options;
    const batch = loadMnistBatch(batchSize, { offset: this.steps * batchSize, seed, dtype });
    this.lastBatch = batch;
    const result = tidy(() => {
      const { x, y } = this.upload(batch);
      this.model.zeroGrad();
      const loss = this.lossFunction.forward(this.model.forward(x), y);
      backpack([new BatchGrad(), new BatchL2Grad()], () => loss.backward());
      const parameters = this.model.parameters();

      const squaredNorms = parameters.map((p) => p.batchL2!).reduce((a, b) => add(a, b));
      const normsBefore = Float64Array.from(sqrt(squaredNorms).toArray());
      const target = clipNorm * (1 - CLIP_MARGIN[dtype]);
      const scale = tensor(
        normsBefore.map((norm) => (norm > target ? target / norm : 1)),
        [batchSize],
        { backend, dtype },
      );

      const clippedSquaredNorms = new Float64Array(batchSize);
      for (const parameter of parameters) {
        const parameterAxes = parameter.data.shape.map((_, i) => i + 1);
        const clipped = mul(parameter.gradBatch!, reshape(scale, [batchSize, ...parameterAxes.map(() => 1)]));
        addSquaredNorms(clipped.toArray(), clippedSquaredNorms);
        const noise = this.noise.normal(parameter.data.shape, { backend, dtype });
        const update = add(sum(clipped, [0]), mul(noise, noiseMultiplier * clipNorm));
        const data = keep(sub(parameter.data, mul(update, learningRate / batchSize)));
        parameter.data.dispose();
        parameter.data = data;
      }
      return { loss: loss.item() / batchSize, normsBefore, normsAfter: clippedSquaredNorms.map(Math.sqrt) };
    });
    this.steps++;
    return { step: this.steps, ...result };
  }

  /**
   * The first layer's GGN and Hessian diagonals (DiagGGNExact, DiagHessian,
   * one backward pass) on the last step's batch (the first batch before any
   * step), summed over the hidden units: one value per input pixel.
   */
  curvature(): Curvature {
    const { batchSize, dtype, seed } = this.options;
    const batch = this.lastBatch ?? loadMnistBatch(batchSize, { seed, dtype });
    return tidy(() => {
      const { x, y } = this.upload(batch);
      this.model.zeroGrad();
      const loss = this.lossFunction.forward(this.model.forward(x), y);
      backpack([new DiagGGNExact(), new DiagHessian()], () => loss.backward());
      const { weight } = this.first;
      return {
        ggn: Float64Array.from(sum(weight.diagGgnExact!, [0]).toArray()),
        hessian: Float64Array.from(sum(weight.diagH!, [0]).toArray()),
      };
    });
  }

  /**
   * Frees the parameters and every quantity the last passes stored on them
   * (tfjs does not collect garbage): each field that holds a tensor or a list
   * of tensors. A parameter has other fields too (core's `version`, a number).
   */
  dispose(): void {
    for (const parameter of this.model.parameters()) {
      for (const value of Object.values(parameter) as unknown[]) {
        for (const item of Array.isArray(value) ? value : [value]) if (item instanceof Tensor) item.dispose();
      }
    }
  }
}
