import { cpu } from '@backpack-ts/backend-cpu';
import { tensor, type FloatDType, type Tensor } from '@backpack-ts/core';
import { expect } from 'vitest';
import { importOnnx, verifyWithOnnxRuntime, type ImportOptions, type OnnxModel } from '../../src/index.js';
import { values } from './onnx-builder.js';

/** A float input batch `[batch, ...sample]` of pseudo-random values. */
export function inputFor(model: OnnxModel, batch = 3, seed = 7): Tensor {
  const shape = [batch, ...model.input.sampleShape];
  const count = shape.reduce((a, b) => a * b, 1);
  const data = model.input.dtype === 'int32' ? values(count, seed).map((v) => Math.floor((v + 1) * 2.5)) : values(count, seed);
  return tensor(data, shape, { backend: model.backend, dtype: model.input.dtype });
}

/**
 * Imports `bytes`, runs a batch through it and through onnxruntime-node, and
 * expects them to agree (ORT computes in float32). Returns the model.
 */
export async function importAndVerify(
  bytes: Uint8Array,
  options: ImportOptions & { batch?: number; dtype?: FloatDType } = {},
): Promise<OnnxModel> {
  const model = importOnnx(bytes, { backend: cpu, ...options });
  const report = await verifyWithOnnxRuntime(model, inputFor(model, options.batch ?? 3));
  if (process.env['ONNX_TEST_VERBOSE']) console.log(report.message);
  expect(report.message).toMatch(/: ok:/);
  expect(report.maxRelDiff).toBeLessThan(1e-5);
  return model;
}
