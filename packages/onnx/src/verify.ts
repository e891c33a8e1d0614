/**
 * Runs the same ONNX bytes in onnxruntime-node and compares the outputs with
 * the imported model's forward pass.
 */
import { tensor, tidy, type Tensor } from '@backpack-ts/core';
import { UserError } from './errors.js';
import type { OnnxModel } from './import/onnx-model.js';

/** Row-major values with their shape (a golden tensor, a `.npy` file, ...). */
export interface ShapedValues {
  /** Dimensions. */
  readonly shape: readonly number[];
  /** The elements, row-major. */
  readonly data: ArrayLike<number>;
}

/** The outcome of {@link verifyWithOnnxRuntime}. */
export interface VerifyReport {
  /** max |ours - ORT| over the output. */
  readonly maxAbsDiff: number;
  /** maxAbsDiff / max |ORT|: the error relative to the output's scale. */
  readonly maxRelDiff: number;
  /** Largest accepted `maxRelDiff`. */
  readonly tolerance: number;
  /** Whether the shapes agree and `maxRelDiff` is within the tolerance. */
  readonly ok: boolean;
  /**
   * Non-finite values (NaN, ±Infinity) in the input or in either output.
   * Where both outputs have the same non-finite value they agree; any other
   * difference there comes from the model or its input, not the import.
   */
  readonly nonFinite: number;
  /** Shape of our output. */
  readonly shape: readonly number[];
  /** Shape of ONNX Runtime's output. */
  readonly ortShape: readonly number[];
  /** `onnxruntime-node <version>`. */
  readonly runtime: string;
  /** One line for people: the outcome, the differences and the runtime. */
  readonly message: string;
}

/** Options of {@link verifyWithOnnxRuntime}. */
export interface VerifyOptions {
  /** Largest accepted relative difference (default 1e-4: ONNX Runtime computes in float32). */
  readonly tolerance?: number;
}

type Ort = typeof import('onnxruntime-node');

let ortPromise: Promise<Ort> | undefined;

/** Loads onnxruntime-node once (telemetry off), with a clear error when it is missing. */
export async function loadOnnxRuntime(): Promise<Ort> {
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  ortPromise ??= import('onnxruntime-node').then(
    (module) => ((module as { default?: Ort }).default?.InferenceSession ? (module as { default: Ort }).default : module),
    (error: unknown) => {
      ortPromise = undefined;
      throw new UserError(`onnxruntime-node could not be loaded (${(error as Error).message}); install onnxruntime-node@1.30.0 or skip the check (--no-verify)`);
    },
  );
  return ortPromise;
}

function ortVersion(ort: Ort): string {
  const version = (ort as { env?: { versions?: { node?: string; common?: string } } }).env?.versions;
  return `onnxruntime-node ${version?.node ?? version?.common ?? ''}`.trim();
}

/** ONNX Runtime's tensor type of each ONNX input type the importer accepts (float32 for the rest). */
const ORT_TYPES: ReadonlyMap<string, 'float32' | 'float64' | 'int64' | 'int32'> = new Map([
  ['float', 'float32'],
  ['double', 'float64'],
  ['int64', 'int64'],
  ['int32', 'int32'],
] as const);

function toOrtData(values: ArrayLike<number>, onnxType: string): Float32Array | Float64Array | Int32Array | BigInt64Array {
  switch (onnxType) {
    case 'double':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int32':
      return Int32Array.from(values);
    default:
      return Float32Array.from(values);
  }
}

/**
 * Runs `input` through the imported model and through ONNX Runtime (the
 * same bytes) and reports the largest difference of the outputs. The input
 * is rounded to the ONNX input's type for ONNX Runtime (float32 for the
 * usual models), so differences of float32's precision are expected.
 */
export async function verifyWithOnnxRuntime(model: OnnxModel, input: Tensor | ShapedValues, options: VerifyOptions = {}): Promise<VerifyReport> {
  const tolerance = options.tolerance ?? 1e-4;
  const ours = tidy(() => {
    const x = (input as Tensor).isTensor === true ? (input as Tensor) : tensor((input as ShapedValues).data, (input as ShapedValues).shape, { backend: model.backend, dtype: model.input.dtype });
    model.checkInput(x);
    const wasTraining = model.training;
    model.eval();
    try {
      const y = model.forward(x);
      return { inputShape: [...x.shape], inputData: x.toArray(), shape: [...y.shape], data: y.toArray() };
    } finally {
      model.train(wasTraining);
    }
  });
  const ort = await loadOnnxRuntime();
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>>;
  try {
    session = model.filePath !== undefined ? await ort.InferenceSession.create(model.filePath) : await ort.InferenceSession.create(model.bytes);
  } catch (error) {
    throw new UserError(`onnxruntime-node cannot load the model: ${(error as Error).message}`);
  }
  try {
    const ortType = ORT_TYPES.get(model.input.onnxType) ?? 'float32';
    const feed = { [model.input.name]: new ort.Tensor(ortType, toOrtData(ours.inputData, model.input.onnxType), ours.inputShape) };
    let results: Record<string, { data: unknown; dims: readonly number[] }>;
    try {
      results = (await session.run(feed, [model.outputName])) as unknown as Record<string, { data: unknown; dims: readonly number[] }>;
    } catch (error) {
      throw new UserError(`onnxruntime-node failed to run the model: ${(error as Error).message}`);
    }
    const out = results[model.outputName]!;
    const ortData = Array.from(out.data as ArrayLike<number | bigint>, Number);
    const ortShape = [...out.dims].map(Number);
    const runtime = ortVersion(ort);
    const sameShape = ortShape.length === ours.shape.length && ortShape.every((d, i) => d === ours.shape[i]);
    if (!sameShape) {
      return {
        maxAbsDiff: Infinity,
        maxRelDiff: Infinity,
        tolerance,
        ok: false,
        nonFinite: 0,
        shape: ours.shape,
        ortShape,
        runtime,
        message: `forward check against ${runtime}: FAIL: output shape [${ours.shape.join(', ')}] differs from ONNX Runtime's [${ortShape.join(', ')}]`,
      };
    }
    // Finite values are compared relative to the largest of ONNX Runtime's; non-finite ones must be the same value.
    let maxAbsDiff = 0;
    let scale = 0;
    let mismatched = 0;
    let nonFinite = 0;
    for (let i = 0; i < ours.inputData.length; i++) if (!Number.isFinite(ours.inputData[i]!)) nonFinite++;
    for (let i = 0; i < ortData.length; i++) {
      const a = ours.data[i]!;
      const b = ortData[i]!;
      if (Number.isFinite(a) && Number.isFinite(b)) {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a - b));
        scale = Math.max(scale, Math.abs(b));
        continue;
      }
      nonFinite++;
      if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) mismatched++;
    }
    const maxRelDiff = mismatched > 0 ? NaN : maxAbsDiff / Math.max(scale, 1e-300);
    const ok = maxRelDiff <= tolerance;
    const where = `over output [${ours.shape.join(', ')}]`;
    const nonFiniteNote =
      nonFinite === 0
        ? ''
        : `; the model or its input has non-finite values: ${nonFinite} NaN/Infinity in the input and outputs${mismatched > 0 ? `, ${mismatched} of them where the other output differs` : ', the same in both outputs'}`;
    const message = `forward check against ${runtime}: ${ok ? 'ok' : 'FAIL'}: max abs difference ${maxAbsDiff.toExponential(2)}, relative ${maxRelDiff.toExponential(2)} (tolerance ${tolerance.toExponential(0)}) ${where}${nonFiniteNote}`;
    return { maxAbsDiff, maxRelDiff, tolerance, ok, nonFinite, shape: ours.shape, ortShape, runtime, message };
  } finally {
    await session.release();
  }
}
