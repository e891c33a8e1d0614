/**
 * The progress bar of the examples that run one backward pass per set of
 * extensions (seed, cnn, all-in-one): on a terminal only, quiet otherwise.
 */
import type { Extension } from '@backpack-ts/core';
import { createProgress, type ProgressStream } from '@backpack-ts/onnx/cli';

/**
 * Runs `report` on `runs` with a progress bar on `stream` (a terminal only):
 * one step per backward pass, named by its extensions; report lines printed
 * meanwhile go above the bar.
 */
export function withProgress(
  label: string,
  runs: readonly (() => Extension[])[],
  print: (line: string) => void,
  stream: ProgressStream,
  report: (runs: readonly (() => Extension[])[], print: (line: string) => void) => void,
): void {
  const progress = createProgress({ total: runs.length, label, stream });
  const tracked = runs.map((makeExtensions, index) => () => {
    const extensions = makeExtensions();
    progress.update(index, `backward pass with ${extensions.map((e) => e.name).join(', ')}`);
    return extensions;
  });
  try {
    report(tracked, (line) => progress.interrupt(() => print(line)));
  } finally {
    progress.done();
  }
}
