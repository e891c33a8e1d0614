/**
 * Differentially private SGD (BackPACK's
 * `use_cases/example_differential_privacy.py`, after Abadi et al., 2016):
 * every per-sample gradient g_n is scaled to norm at most C,
 * `g̃_n = g_n / max(1, ‖g_n‖ / C)`, the scaled gradients are summed, Gaussian
 * noise of standard deviation σ·C per coordinate is added, and the step is
 * that sum over the batch size times the learning rate. BatchGrad gives the
 * g_n and BatchL2Grad their squared norms (per parameter) in the same
 * backward pass as the loss gradient.
 *
 * The loss is summed over the batch, so that each per-sample gradient is
 * that sample's own gradient, the quantity DP-SGD clips. (BackPACK's
 * example computes the factor as `clamp_max(‖g_n‖ / C, 1)`, which scales the
 * small gradients down and leaves the large ones; this is the formula it
 * states, `min(1, C / ‖g_n‖)`.) The noise of the mean step is σ·C/N per
 * coordinate: with a small batch it drowns the gradient.
 *
 *   pnpm example differential-privacy [--batch-size 64] [--steps 60] [--backend cpu]
 */
import {
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  ZeroPad2d,
  add,
  argmax,
  assertFloat,
  backpack,
  clamp,
  equal,
  extend,
  keep,
  mean,
  mul,
  noGrad,
  reciprocal,
  reshape,
  sqrt,
  sum,
  tidy,
  cast,
  type Backend,
  type FloatDType,
  type Parameter,
  type Tensor,
} from '@backpack-ts/core';
import { BatchGrad, BatchL2Grad } from '@backpack-ts/first-order';
import { createProgress, type ProgressStream } from '@backpack-ts/onnx/cli';
import { SGD } from '@backpack-ts/optim';
import { exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** DP-SGD's settings. */
export interface DpSgdOptions {
  /** C: the largest norm a per-sample gradient keeps (all parameters together). */
  readonly maxNorm: number;
  /** σ: the noise's standard deviation per coordinate is σ·C. */
  readonly noiseMultiplier: number;
  /** Step size; the step is `learningRate · (Σ_n g̃_n + noise) / N`. */
  readonly learningRate: number;
}

/** The settings of this example. */
export const DP_SGD: DpSgdOptions = { maxNorm: 1, noiseMultiplier: 1, learningRate: 0.5 };

/** BackPACK's `make_small_cnn`: padding, two strided convolutions with ReLU and max-pooling, two linear layers. */
export function smallCnn(
  backend: Backend,
  dtype: FloatDType,
  channels: readonly [number, number] = [16, 32],
  hidden = 32,
  generator = new Generator(0),
): Sequential {
  const options = { backend, dtype, generator };
  return new Sequential(
    new ZeroPad2d([3, 4, 3, 4]),
    new Conv2d(1, channels[0], 8, { stride: 2, ...options }),
    new ReLU(),
    new MaxPool2d(2, { stride: 1 }),
    new Conv2d(channels[0], channels[1], 4, { stride: 2, ...options }),
    new ReLU(),
    new MaxPool2d(2, { stride: 1 }),
    new Flatten(),
    new Linear(channels[1] * 4 * 4, hidden, options),
    new ReLU(),
    new Linear(hidden, 10, options),
  );
}

/** The per-sample gradients after clipping, and the norms before. */
export interface ClippedGradients {
  /** ‖g_n‖ over all parameters, from BatchL2Grad, `[N]`. */
  readonly norms: Tensor;
  /** g̃_n for each parameter (in order), `[N, ...param]`. */
  readonly clipped: readonly Tensor[];
}

/**
 * Clips the per-sample gradients a BatchGrad + BatchL2Grad pass stored on
 * `parameters` to norm at most `maxNorm`: `g̃_n = g_n · min(1, C / ‖g_n‖)`.
 */
export function clipPerSampleGradients(parameters: readonly Parameter[], maxNorm: number): ClippedGradients {
  const norms = sqrt(parameters.map((p) => p.batchL2!).reduce((a, b) => add(a, b)));
  // min(1, C / ‖g_n‖); a zero gradient gets 1 (C / 0 = ∞).
  const factors = clamp(mul(reciprocal(norms), maxNorm), { max: 1 });
  const clipped = parameters.map((p) => {
    const gradBatch = p.gradBatch!;
    // [N] -> [N, 1, ..., 1] to broadcast over the parameter's dimensions.
    return mul(gradBatch, reshape(factors, [gradBatch.shape[0]!, ...p.data.shape.map(() => 1)]));
  });
  return { norms, clipped };
}

/**
 * One DP-SGD step on a batch: each parameter's gradient replaced by the
 * private one, `(Σ_n g̃_n + noise) / N`, and `optimizer` (SGD with the
 * learning rate) steps on it. Returns the batch's mean loss and accuracy
 * (before the step).
 */
export function dpSgdStep(
  model: Sequential,
  lossFunction: CrossEntropyLoss,
  images: Tensor,
  labels: Tensor,
  options: DpSgdOptions,
  noise: Generator,
  optimizer: SGD,
): { loss: number; accuracy: number } {
  return tidy(() => {
    const n = images.shape[0]!;
    const output = model.forward(images);
    const loss = lossFunction.forward(output, labels);
    backpack([new BatchGrad(), new BatchL2Grad()], () => loss.backward());
    const parameters = model.parameters();
    const { clipped } = clipPerSampleGradients(parameters, options.maxNorm);
    noGrad(() =>
      parameters.forEach((parameter, i) => {
        const { backend, shape } = parameter.data;
        const dtype = assertFloat('differential-privacy', parameter.data);
        const perturbed = add(sum(clipped[i]!, [0]), mul(noise.normal(shape, { backend, dtype }), options.noiseMultiplier * options.maxNorm));
        parameter.grad!.dispose();
        // Kept past this tidy: the optimiser's zeroGrad disposes it.
        parameter.grad = keep(mul(perturbed, 1 / n));
      }),
    );
    optimizer.step();
    optimizer.zeroGrad();
    return { loss: loss.item() / n, accuracy: accuracy(output, labels) };
  });
}

/** The fraction of samples whose largest logit is their label's. */
export function accuracy(logits: Tensor, labels: Tensor): number {
  // In the logits' dtype: float64 is not on every backend (tfjs).
  return tidy(() => mean(cast(equal(argmax(logits, 1), labels), assertFloat('accuracy', logits))).item());
}

/** What the example computed. */
export interface DifferentialPrivacyResult {
  readonly model: Sequential;
  /** Mean loss of each step's batch, before its step. */
  readonly losses: readonly number[];
  readonly accuracies: readonly number[];
  /** Mean loss of a held-out batch before and after training. */
  readonly heldOutLoss: { readonly before: number; readonly after: number };
}

/** Runs the example; on a terminal, `progress` shows a bar of the steps. */
export function main(
  args: readonly string[] = [],
  print: (line: string) => void = console.log,
  progress: ProgressStream = process.stderr,
): DifferentialPrivacyResult {
  const { backend, backendNote, batchSize, integers } = parseArgs(args, { name: 'differential-privacy', batchSize: 64, integers: { steps: 60 } });
  const steps = integers['steps']!;
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}, steps: ${steps}, C = ${DP_SGD.maxNorm}, σ = ${DP_SGD.noiseMultiplier}, learning rate ${DP_SGD.learningRate}`);
  const model = extend(smallCnn(backend, dtype, [16, 32], 32));
  const lossFunction = extend(new CrossEntropyLoss('sum'));
  const noise = new Generator(1);
  const optimizer = new SGD(model, { lr: DP_SGD.learningRate });

  // Digits no step trains on: past the steps' batches in the seeded order.
  const heldOut = mnistBatch(256, backend, dtype, { offset: steps * batchSize });
  const heldOutLoss = () => noGrad(() => tidy(() => lossFunction.forward(model.forward(heldOut.images), heldOut.labels).item() / 256));
  const before = heldOutLoss();

  const losses: number[] = [];
  const accuracies: number[] = [];
  const every = Math.max(1, Math.floor(steps / 10));
  const bar = createProgress({ total: steps, label: 'differential-privacy', stream: progress });
  try {
    for (let step = 0; step < steps; step++) {
      bar.update(step, 'DP-SGD steps');
      const { images, labels } = mnistBatch(batchSize, backend, dtype, { offset: step * batchSize });
      const { loss, accuracy } = dpSgdStep(model, lossFunction, images, labels, DP_SGD, noise, optimizer);
      losses.push(loss);
      accuracies.push(accuracy);
      if (step % every === 0 || step === steps - 1) {
        bar.interrupt(() => print(`step ${String(step + 1).padStart(4)}/${steps}  minibatch loss ${loss.toFixed(3)}  accuracy ${accuracy.toFixed(3)}`));
      }
    }
  } finally {
    bar.done();
  }
  const after = heldOutLoss();
  print(`held-out loss: ${before.toFixed(3)} before training, ${after.toFixed(3)} after`);
  return { model, losses, accuracies, heldOutLoss: { before, after } };
}

runIfMain(import.meta.url, main);
