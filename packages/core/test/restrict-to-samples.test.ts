/**
 * `restrictToSamples`: a recorded call restricted to some samples behaves as
 * the full call's rows: its output and its transposed Jacobians (input and
 * parameters, per sample) are the selected rows of the full ones.
 */
import { describe, expect, it } from 'vitest';
import {
  BatchNorm2d,
  Conv2d,
  CrossEntropyLoss,
  Dropout,
  Generator,
  Linear,
  MaxPool2d,
  Pad,
  selectIndices,
  extend,
  type LeafModule,
  type Tensor,
} from '@backpack-ts/core';
import { cpu } from '@backpack-ts/backend-cpu';
import { randomTensor, t, values } from './helpers/tensors.js';

const options = { backend: cpu, dtype: 'float64' as const, generator: new Generator(1) };
const S = [3, 0, 3];

const cases: [string, () => LeafModule, Tensor[]][] = [
  ['Linear', () => new Linear(4, 2, options), [randomTensor([4, 4], 1)]],
  ['Conv2d', () => new Conv2d(1, 2, 2, options), [randomTensor([4, 1, 3, 3], 2)]],
  ['MaxPool2d', () => new MaxPool2d(2), [randomTensor([4, 1, 4, 4], 3)]],
  ['Pad', () => new Pad([1, 0], { value: 2 }), [randomTensor([4, 3], 4)]],
  ['Dropout (training)', () => new Dropout(0.5, new Generator(2)), [randomTensor([4, 5], 5)]],
  ['BatchNorm2d (evaluation)', () => new BatchNorm2d(1, options).eval(), [randomTensor([4, 1, 2, 2], 6)]],
  ['CrossEntropyLoss', () => new CrossEntropyLoss(), [randomTensor([4, 3], 7), t([2, 0, 1, 1], [4], 'int32')]],
];

describe.each(cases)('%s', (_, make, inputs) => {
  it('restricted to samples [3, 0, 3] gives the rows of the full call', () => {
    const module = extend(make());
    const node = module.forward(...inputs.map((x) => (x.dtype === 'int32' ? x : x.requiresGrad_()))).producer!;
    const sub = module.restrictToSamples(node, S);
    const rows = (x: Tensor, axis = 0) => values(selectIndices(x, axis, S));
    if (node.output.rank > 0) expect(values(sub.output)).toEqual(rows(node.output));
    const mat = randomTensor([2, ...(node.output.rank > 0 ? node.output.shape : [])], 8);
    const subMat = node.output.rank > 0 ? selectIndices(mat, 1, S) : mat;
    for (const i of module.differentiableInputs(node)) {
      const full = module.jacTMatProd(node, mat, i);
      // A mean loss divides by the batch size: N / |S| apart.
      const scale = module instanceof CrossEntropyLoss ? S.length / node.batchSize : 1;
      values(module.jacTMatProd(sub, subMat, i)).forEach((v, k) => expect(v * scale).toBeCloseTo(rows(full, 1)[k]!, 12));
    }
    for (const [name] of module.ownNamedParameters()) {
      const full = module.paramJacTMatProd(node, name, mat, { sumBatch: false });
      values(module.paramJacTMatProd(sub, name, subMat, { sumBatch: false })).forEach((v, k) => expect(v).toBeCloseTo(rows(full, 1)[k]!, 12));
    }
  });
});
