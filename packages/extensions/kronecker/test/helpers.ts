/** Shared test helpers: golden cases as reference problems, running extensions, comparisons. */
import { cpu } from '@backpack-ts/backend-cpu';
import { compareArrays, type CompareReport, type GoldenCase } from '@backpack-ts/conformance';
import { backpack, type Extension, type LossModule, type Module, type Parameter, type Tensor } from '@backpack-ts/core';
import { activation, toMatrix, type Matrix, type RefLayer, type RefLossKind, type RefProblem } from './reference.js';

export const TOLERANCE = 1e-10;
export const float64 = { backend: cpu, dtype: 'float64' as const };

/** Splits `[N, ...]` row-major data into one flat array per sample. */
export function perSample(data: ArrayLike<number>, n: number): number[][] {
  const per = data.length / n;
  return Array.from({ length: n }, (_, i) => Array.from({ length: per }, (_, j) => data[i * per + j]!));
}

/** A golden case as a reference problem (layers with the stored parameters, evaluation mode). */
export function refProblemFromGolden(golden: GoldenCase): RefProblem {
  const layers: RefLayer[] = golden.case.layers.map((spec, k) => {
    switch (spec.type) {
      case 'Linear': {
        const w = golden.params[`${k}.weight`]!;
        const b = golden.params[`${k}.bias`];
        return {
          kind: 'linear',
          weight: toMatrix(w.data, w.shape[0]!, w.shape[1]!),
          ...(b === undefined ? {} : { bias: [...b.data] }),
        };
      }
      case 'Flatten':
      case 'Identity':
      case 'Dropout': // evaluation mode
        return { kind: 'identity' };
      default:
        return { kind: 'elementwise', activation: activation(spec.type, spec) };
    }
  });
  const n = golden.case.batch;
  const kind = golden.case.loss.type as RefLossKind;
  return {
    layers,
    loss: { kind, reduction: golden.case.loss.reduction ?? 'mean' },
    sampleShape: golden.case.input.shape,
    inputs: perSample(golden.input.data, n),
    targets: kind === 'CrossEntropyLoss' ? [...golden.target.data] : perSample(golden.target.data, n),
  };
}

/** Runs a forward pass and `backpack(extensions, backward)`. */
export function runExtensions(
  model: Module,
  loss: LossModule,
  input: Tensor,
  target: Tensor,
  extensions: readonly Extension[],
): void {
  const output = model.forward(input);
  backpack(extensions, () => loss.forward(output, target).backward());
}

/** The stored Kronecker factors of `parameter` under `field` (`kfac`, `kflr`, `kfra`). */
export function factorsOf(parameter: Parameter, field: 'kfac' | 'kflr' | 'kfra'): Tensor[] {
  const factors = parameter[field];
  if (factors === undefined) throw new Error(`no ${field} on the parameter`);
  return factors;
}

/** Compares a tensor with a dense matrix. */
export function compareWithMatrix(actual: Tensor, expected: Matrix, label: string, tolerance = TOLERANCE): CompareReport {
  const data = expected.flat();
  return compareArrays(
    { shape: actual.shape, data: actual.toArray() },
    { shape: [expected.length, expected[0]!.length], data },
    { tolerance, label },
  );
}

/** Fails with every failed report's message. */
export function failures(reports: readonly CompareReport[]): string[] {
  return reports.filter((r) => !r.ok).map((r) => r.message);
}
