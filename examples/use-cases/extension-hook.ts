/**
 * The extension hook (BackPACK's `use_cases/example_extension_hook.py`): a
 * function `backpack()` calls on each module right after its extensions
 * ran. Here it sums each parameter's Hessian diagonal into the trace as soon
 * as it exists and frees it, so the diagonals never all live at once; the
 * trace equals the one summed after the backward pass.
 *
 *   pnpm example extension-hook [--batch-size 128] [--backend cpu]
 */
import { CrossEntropyLoss, Flatten, Linear, Sequential, backpack, extend, sum, type LeafModule, type Tensor } from '@backpack-ts/core';
import { DiagHessian } from '@backpack-ts/diag-hessian';
import { agree, exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** Sums the Hessian diagonal of each module's parameters as the backward pass reaches it, freeing each diagonal. */
export class TraceHook {
  /** Tr(H) of the parameters seen so far. */
  value = 0;
  /** Parameter tensors whose diagonal was consumed (to show that all were). */
  consumed = 0;

  /** The hook: pass it as `backpack(extensions, fn, { extensionHook: hook.sumDiagH })`. */
  readonly sumDiagH = (module: LeafModule): void => {
    for (const [, parameter] of module.ownNamedParameters()) {
      if (parameter.diagH === undefined) continue;
      this.value += sum(parameter.diagH).item();
      parameter.diagH.dispose();
      parameter.diagH = undefined;
      this.consumed++;
    }
  };
}

/** What the example computed. */
export interface ExtensionHookResult {
  readonly model: Sequential;
  readonly images: Tensor;
  readonly labels: Tensor;
  /** Tr(H) from the diagonals stored by the backward pass. */
  readonly traceAfterBackward: number;
  /** Tr(H) summed by the hook during the backward pass. */
  readonly traceWhileBackward: number;
  /** How many parameters' diagonals are left on the parameters after the hooked pass (0). */
  readonly leftOver: number;
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): ExtensionHookResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'extension-hook', batchSize: 128 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const model = extend(new Sequential(new Flatten(), new Linear(784, 10, { backend, dtype })));
  const lossFunction = extend(new CrossEntropyLoss());

  // The trace after the backward pass, from the stored diagonals.
  let loss = lossFunction.forward(model.forward(images), labels);
  backpack(new DiagHessian(), () => loss.backward());
  const traceAfterBackward = model.parameters().reduce((trace, p) => trace + sum(p.diagH!).item(), 0);
  print(`Tr(H) after backward: ${traceAfterBackward.toFixed(6)}`);
  for (const parameter of model.parameters()) {
    parameter.diagH!.dispose();
    parameter.diagH = undefined;
  }

  // The same trace, summed by the hook while the backward pass runs.
  const hook = new TraceHook();
  model.zeroGrad();
  loss = lossFunction.forward(model.forward(images), labels);
  backpack(new DiagHessian(), () => loss.backward(), { extensionHook: hook.sumDiagH });
  const leftOver = model.parameters().filter((p) => p.diagH !== undefined).length;
  print(`Tr(H) while backward: ${hook.value.toFixed(6)} (${hook.consumed} diagonals consumed by the hook, ${leftOver} left on the parameters)`);
  print(`Same Tr(H)? ${agree([hook.value], [traceAfterBackward], dtype)}`);
  return { model, images, labels, traceAfterBackward, traceWhileBackward: hook.value, leftOver };
}

runIfMain(import.meta.url, main);
