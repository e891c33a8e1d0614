/**
 * The three workloads of the reference (`backpack-pytorch-reference.json`,
 * field `what`), built exactly as it describes them: same layers, same
 * shapes, inputs uniform [0, 1) of shape `[N, 1, 28, 28]`, 10 classes,
 * CrossEntropyLoss.
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
  Tanh,
  extend,
  tensor,
  type Backend,
  type FloatDType,
  type LossModule,
  type Tensor,
} from '@backpack-ts/core';

export const WORKLOAD_NAMES = ['seed', 'mlp', 'cnn'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export const CLASSES = 10;

/** The reference's batch size for each workload. */
export const REFERENCE_BATCH: Readonly<Record<WorkloadName, number>> = { seed: 512, mlp: 256, cnn: 128 };

/** How each model is written in the reference (PyTorch notation), for the report. */
export const DESCRIPTIONS: Readonly<Record<WorkloadName, string>> = {
  seed: 'Flatten, Linear(784,10)',
  mlp: 'Flatten, Linear(784,256), ReLU, Linear(256,128), Tanh, Linear(128,10)',
  cnn: 'Conv2d(1,16,3,pad 1), ReLU, MaxPool2d(2), Conv2d(16,32,3,pad 1), ReLU, MaxPool2d(2), Flatten, Linear(1568,10)',
};

/** A built workload: extended model and loss, one batch of inputs and labels. */
export interface Workload {
  readonly name: WorkloadName;
  readonly batchSize: number;
  readonly model: Sequential;
  readonly loss: LossModule;
  readonly inputs: Tensor;
  readonly labels: Tensor;
}

export interface WorkloadOptions {
  readonly backend: Backend;
  readonly dtype: FloatDType;
  /** Batch size; default the reference's. */
  readonly batchSize?: number;
  /** Seed of the parameters, inputs and labels (default 0). */
  readonly seed?: number;
}

/** Builds a workload on a backend: parameters, inputs and labels from one seeded generator. */
export function buildWorkload(name: WorkloadName, options: WorkloadOptions): Workload {
  const { backend, dtype } = options;
  const batchSize = options.batchSize ?? REFERENCE_BATCH[name];
  const generator = new Generator(options.seed ?? 0);
  const layer = { backend, dtype, generator };
  const model = extend(buildModel(name, layer));
  const loss = extend(new CrossEntropyLoss());
  const inputs = generator.uniform([batchSize, 1, 28, 28], { backend, dtype });
  const labelData = new Int32Array(batchSize);
  for (let i = 0; i < batchSize; i++) labelData[i] = generator.nextUint32() % CLASSES;
  const labels = tensor(labelData, [batchSize], { backend, dtype: 'int32' });
  return { name, batchSize, model, loss, inputs, labels };
}

function buildModel(name: WorkloadName, layer: { backend: Backend; dtype: FloatDType; generator: Generator }): Sequential {
  switch (name) {
    case 'seed':
      return new Sequential(new Flatten(), new Linear(784, 10, layer));
    case 'mlp':
      return new Sequential(
        new Flatten(),
        new Linear(784, 256, layer),
        new ReLU(),
        new Linear(256, 128, layer),
        new Tanh(),
        new Linear(128, 10, layer),
      );
    case 'cnn':
      return new Sequential(
        new Conv2d(1, 16, 3, { ...layer, padding: 1 }),
        new ReLU(),
        new MaxPool2d(2),
        new Conv2d(16, 32, 3, { ...layer, padding: 1 }),
        new ReLU(),
        new MaxPool2d(2),
        new Flatten(),
        new Linear(1568, 10, layer),
      );
  }
}
