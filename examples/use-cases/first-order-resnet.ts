/**
 * First-order extensions on a ResNet whose forward pass you write yourself
 * (BackPACK's `use_cases/example_first_order_resnet.py`, the first part of
 * its ResNet example): the layers with parameters are modules, the ReLU,
 * the skip connection `x + residual` and the flattening are plain ops in
 * `forward`. BatchGrad needs nothing more: per-sample gradients come from
 * each layer's own Jacobian and the gradient reaching its output, whatever
 * ops lie between. The loss need not be a module either.
 *
 *   pnpm example first-order-resnet [--batch-size 32] [--backend cpu]
 */
import {
  Conv2d,
  Identity,
  Linear,
  Module,
  add,
  backpack,
  formatShape,
  crossEntropy,
  extend,
  flatten,
  relu,
  slice,
  type Backend,
  type FloatDType,
  type Tensor,
} from '@backpack-ts/core';
import { BatchGrad } from '@backpack-ts/first-order';
import { agree, exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** BackPACK's `MyFirstResNet`: two 3 x 3 convolutions with a skip connection, then a linear layer. */
export class MyFirstResNet extends Module {
  readonly typeName = 'MyFirstResNet';
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly linear1: Linear;
  /** The skip connection: the identity when the channel counts agree, else a 1 x 1 convolution. */
  readonly shortcut: Module;

  constructor(options: { backend: Backend; dtype: FloatDType; cIn?: number; cHidden?: number; side?: number; outputs?: number }) {
    super();
    const { backend, dtype, cIn = 1, cHidden = 5, side = 28, outputs = 10 } = options;
    this.conv1 = this.registerModule('conv1', new Conv2d(cIn, cHidden, 3, { padding: 1, backend, dtype }));
    this.conv2 = this.registerModule('conv2', new Conv2d(cHidden, cHidden, 3, { padding: 1, backend, dtype }));
    this.linear1 = this.registerModule('linear1', new Linear(side * side * cHidden, outputs, { backend, dtype }));
    this.shortcut = this.registerModule('shortcut', cIn === cHidden ? new Identity() : new Conv2d(cIn, cHidden, 1, { backend, dtype }));
  }

  forward(x: Tensor): Tensor {
    const residual = this.shortcut.forward(x);
    const h = add(this.conv2.forward(relu(this.conv1.forward(x))), residual);
    return this.linear1.forward(flatten(h, 1));
  }
}

/** What the example computed. */
export interface FirstOrderResNetResult {
  readonly model: MyFirstResNet;
  readonly images: Tensor;
  readonly labels: Tensor;
  /** Per parameter (in order), the per-sample gradients `[N, ...param]`. */
  readonly gradBatch: readonly Tensor[];
}

/** The sample whose gradient the example recomputes alone, as BackPACK's does. */
export const SAMPLE_TO_CHECK = 1;

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): FirstOrderResNetResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'first-order-resnet', batchSize: 32 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(new MyFirstResNet({ backend, dtype }));

  const loss = crossEntropy(model.forward(images), labels, { reduction: 'sum' });
  backpack(new BatchGrad(), () => loss.backward());
  const gradBatch = model.parameters().map((p) => p.gradBatch!);
  for (const [name, parameter] of model.namedParameters()) print(`${name.padStart(16)}'s gradBatch shape: ${formatShape(parameter.gradBatch!.shape)}`);

  // One sample alone, by an ordinary backward pass: its .grad is that sample's gradient.
  const sample = Math.min(SAMPLE_TO_CHECK, batchSize - 1);
  model.zeroGrad();
  crossEntropy(model.forward(slice(images, [sample, 0, 0, 0], [1, 1, 28, 28])), slice(labels, [sample], [1])).backward();
  print(`Do the individual gradients of sample ${sample} match?`);
  for (const [i, [name, parameter]] of model.namedParameters().entries()) {
    const row = slice(gradBatch[i]!, [sample, ...parameter.data.shape.map(() => 0)], [1, ...parameter.data.shape]);
    print(`${name.padStart(16)}: ${agree(row.toArray(), parameter.grad!.toArray(), dtype)}`);
  }
  return { model, images, labels, gradBatch };
}

runIfMain(import.meta.url, main);
