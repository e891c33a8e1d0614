/**
 * The `backpack-ts` command line.
 *
 *   backpack-ts quantities model.onnx --input X.json --target y.json \
 *     --loss CrossEntropyLoss --extensions BatchGrad,DiagGGNExact,KFLR --out result.json
 *
 * Exit codes: 0 done, 1 internal error (printed with its stack), 2 a
 * problem with the arguments or files (printed as one message), 3 the
 * forward check against onnxruntime-node failed.
 *
 * @module \@backpack-ts/onnx/cli
 */
import * as nodeFs from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Embedding, extend, sizeOf, tensor, tidy, type FloatDType, type GraphNode, type Reduction, type Tensor } from '@backpack-ts/core';
import { loadBackend, BACKEND_PACKAGES } from '../backends.js';
import { UserError, isUserError } from '../errors.js';
import { importOnnx } from '../import/importer.js';
import type { OnnxModel } from '../import/onnx-model.js';
import {
  EXTENSION_NAMES,
  LOSS_NAMES,
  computeQuantities,
  createExtension,
  createLoss,
  estimateQuantitiesMemory,
  type ProgressEvent,
  type QuantitiesResult,
} from '../quantities.js';
import { readTensorFile, type TensorFile } from '../tensor-io.js';
import { verifyWithOnnxRuntime } from '../verify.js';
import { defaultMemoryLimitBytes, formatBytes } from '../import/memory-budget.js';
import { checkMemory, parseByteSize } from './memory.js';
import { createProgress } from './progress.js';
import {
  OUTPUT_FORMATS,
  checkOutputTarget,
  resolveOutputFormat,
  resultArrays,
  writeResult,
  writeResultJson,
  type OutputFileSystem,
  type OutputFormat,
} from './output.js';

export { checkMemory, parseByteSize, type MemoryRequest } from './memory.js';
export { createProgress, progressBar, type Progress, type ProgressOptions, type ProgressStream } from './progress.js';
export { defaultMemoryLimitBytes, formatBytes } from '../import/memory-budget.js';
export {
  OUTPUT_FORMATS,
  checkOutputTarget,
  resolveOutputFormat,
  resultArrays,
  writeResult,
  writeResultJson,
  writeResultNpz,
  npyHeader,
  type ByteSink,
  type OutputFileSystem,
  type OutputFormat,
  type ResultArray,
} from './output.js';

/** Where the CLI reads and writes: injectable so tests run it in-process. */
export interface CliIo {
  /** Writes to standard output (the JSON result without `--out`, `--help`). */
  readonly stdout: (text: string) => void;
  /** Writes to standard error (progress, warnings, errors). */
  readonly stderr: (text: string) => void;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
  /** File system that `--out` is written through (default `node:fs`); tests inject failures with it. */
  readonly fs?: OutputFileSystem;
  /** Whether standard error is a terminal: progress is then a bar redrawn in place, else one line at the end (default false). */
  readonly stderrIsTTY?: boolean;
  /** Width of that terminal (default 80). */
  readonly stderrColumns?: number;
}

/** Exit code: done. */
export const EXIT_OK = 0;
/** Exit code: an internal error (a bug), printed with its stack. */
export const EXIT_INTERNAL = 1;
/** Exit code: a problem with the arguments or files, printed as one line. */
export const EXIT_USAGE = 2;
/** Exit code: the forward check against onnxruntime-node failed. */
export const EXIT_VERIFY = 3;

/** The text of `backpack-ts --help`. */
export const HELP = `backpack-ts: per-sample gradients and curvature of ONNX models, in one backward pass

Usage:
  backpack-ts quantities <model.onnx> --input <X> --target <y> --loss <loss> --extensions <E1,E2,...> [options]
  backpack-ts --help

Options of 'quantities':
  --input <file>         input batch, JSON {"shape": [...], "data": [...]} or .npy (float32/float64/int64, C order)
  --target <file>        targets, same formats (class indices for CrossEntropyLoss)
  --loss <name>          ${LOSS_NAMES.join(' | ')}
  --reduction <r>        mean | sum (default mean)
  --extensions <list>    comma-separated, any of:
                         ${EXTENSION_NAMES.join(', ')}
  --mc-samples <n>       samples of the Monte-Carlo extensions (default 1)
  --seed <s>             seed of the Monte-Carlo extensions (default: core's default generator)
  --backend <name>       ${[...BACKEND_PACKAGES.keys()].join(' | ')} (default cpu; others need their package installed)
  --dtype <dtype>        float64 | float32 (default float64 where the backend has it)
  --input-shape <dims>   shape of one sample, e.g. 3,32,32, for models with symbolic input dimensions
  --out <path>           where to write the result (default: JSON on standard output); written to a
                         temporary file beside it and renamed, so a failed run leaves a previous result as it was
  --format <f>           ${OUTPUT_FORMATS.join(' | ')} (default: npz for --out *.npz, npy-dir for --out folder/
                         or an existing folder, else json)
  --memory-limit <size>  refuse, before importing and before computing, what is estimated to need more memory:
                         bytes or KiB, MiB, GiB, TiB (powers of 1024, as messages print sizes; KB, MB, GB, TB
                         are powers of 1000), e.g. 4GiB, 512MiB (default: half of this machine's memory, or of
                         the container's limit where that is lower, here ${formatBytes(defaultMemoryLimitBytes())})
  --no-verify            skip the forward check against onnxruntime-node
  --verify-tolerance <t> largest accepted relative difference of that check (default 1e-4)
  --model-layout         report transposed weights in the module's layout, not the ONNX initializer's

Output formats:
  json     {"loss": number, "output": {shape, data}, "quantities": {Extension: {parameter: {shape, data} | [{shape, data}, ...]}}}
           with "grad" (the gradient) among the quantities and parameters named as in the ONNX file. JSON has no
           NaN or Infinity: such values are written as the strings "NaN", "Infinity", "-Infinity" (the --input and
           --target readers take them back), and a warning names each quantity that has them.
  npz      numpy.load(path): arrays "loss", "output", "<Extension>/<parameter>", Kronecker factors
           "<Extension>/<parameter>.<i>" (names percent-encoded), every value exact; "index.json" maps names to arrays.
  npy-dir  a folder of the same .npy files and index.json.
Progress goes to standard error: a bar redrawn in place on a terminal, else one line when all
extensions are done (each extension's time).

Example (a model exported with torch.onnx.export):
  backpack-ts quantities model.onnx --input X.json --target y.json --loss CrossEntropyLoss \\
    --extensions BatchGrad,DiagGGNExact,KFLR --out result.json

Exit codes: 0 done, 1 internal error (a bug: printed with its stack), 2 bad arguments or files (unsupported
operator, shape mismatch, value out of range, over the memory limit, ...: one line), 3 forward check failed.
`;

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  stderrIsTTY: process.stderr.isTTY === true,
  get stderrColumns() {
    return process.stderr.columns;
  },
};

function integerOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UserError(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

/** `[i, j, ...]`: the position of flat index `index` in `shape`. */
function position(index: number, shape: readonly number[]): string {
  return `[${shape.map((_, d) => Math.floor(index / sizeOf(shape.slice(d + 1))) % shape[d]!).join(', ')}]`;
}

/** Integers that `tensor(..., { dtype: 'int32' })` holds. */
const INT32: readonly [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/**
 * Checks that every value of `file` is an integer in `[low, high]`, else a
 * UserError naming the file, the first bad value, its position and the range.
 */
function checkIntegers(file: TensorFile, path: string, what: string, [low, high]: readonly [number, number], why = ''): void {
  const data = file.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (Number.isInteger(v) && v >= low && v <= high) continue;
    const problem = Number.isInteger(v) ? 'is out of range' : 'is not an integer';
    throw new UserError(`${path}: ${what} ${v} at ${position(i, file.shape)} ${problem}; allowed: integers in [${low}, ${high}]${why}`);
  }
}

function makeTensor(file: TensorFile, model: OnnxModel, dtype: FloatDType | 'int32'): Tensor {
  return tensor(file.data, file.shape, { backend: model.backend, dtype });
}

/** The smallest Embedding that reads the model's input directly: token ids must be below its row count. */
function inputEmbedding(model: OnnxModel): Embedding | undefined {
  return model.steps
    .filter((step) => step.module instanceof Embedding && step.inputs[0] === model.input.name)
    .map((step) => step.module as Embedding)
    .reduce<Embedding | undefined>((small, e) => (small === undefined || e.numEmbeddings < small.numEmbeddings ? e : small), undefined);
}

/** What one sample's forward pass tells about the sizes: its output shape and the largest module input or output. */
interface SampleSizes {
  readonly outputShape: readonly number[];
  readonly activationSize: number;
}

/** Runs the first sample through the model and measures every module's input and output on the recorded graph. */
function measureSample(model: OnnxModel, file: TensorFile): SampleSizes {
  return tidy(() => {
    extend(model);
    const sampleShape = file.shape.slice(1);
    const x = tensor(file.data.subarray(0, sizeOf(sampleShape)), [1, ...sampleShape], { backend: model.backend, dtype: model.input.dtype });
    const y = model.forward(x);
    let largest = Math.max(x.size, y.size);
    const seen = new Set<GraphNode>();
    const pending = y.producer === undefined ? [] : [y.producer];
    for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
      if (seen.has(node)) continue;
      seen.add(node);
      largest = Math.max(largest, node.output.size);
      for (const value of node.inputs) {
        largest = Math.max(largest, value.size);
        if (value.producer !== undefined) pending.push(value.producer);
      }
    }
    return { outputShape: y.shape.slice(1), activationSize: largest };
  });
}

interface QuantitiesArgs {
  readonly model: string;
  readonly input: string;
  readonly target: string;
  readonly loss: string;
  readonly reduction: Reduction;
  readonly extensions: string[];
  readonly mcSamples: number | undefined;
  readonly seed: number | undefined;
  readonly backend: string;
  readonly dtype: FloatDType | undefined;
  readonly inputShape: number[] | undefined;
  readonly out: string | undefined;
  readonly format: string | undefined;
  readonly memoryLimit: number | undefined;
  readonly verify: boolean;
  readonly verifyTolerance: number;
  readonly modelLayout: boolean;
}

function parseQuantitiesArgs(args: string[]): QuantitiesArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        input: { type: 'string' },
        target: { type: 'string' },
        loss: { type: 'string' },
        reduction: { type: 'string' },
        extensions: { type: 'string' },
        'mc-samples': { type: 'string' },
        seed: { type: 'string' },
        backend: { type: 'string' },
        dtype: { type: 'string' },
        'input-shape': { type: 'string' },
        out: { type: 'string' },
        format: { type: 'string' },
        'memory-limit': { type: 'string' },
        'no-verify': { type: 'boolean' },
        'verify-tolerance': { type: 'string' },
        'model-layout': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UserError(`${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UserError(positionals.length === 0 ? 'quantities: the model file is missing (see --help)' : `quantities: one model file expected, got ${positionals.join(' ')}`);
  }
  for (const required of ['input', 'target', 'loss', 'extensions'] as const) {
    if (values[required] === undefined) throw new UserError(`quantities: --${required} is required (see --help)`);
  }
  const reduction = values.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') throw new UserError(`--reduction must be mean or sum, got '${reduction}'`);
  const dtype = values.dtype;
  if (dtype !== undefined && dtype !== 'float32' && dtype !== 'float64') throw new UserError(`--dtype must be float64 or float32, got '${dtype}'`);
  const extensions = values.extensions!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (extensions.length === 0) throw new UserError('--extensions lists no extension');
  extensions.forEach((name) => createExtension(name)); // validates the names before anything is loaded
  createLoss(values.loss!); // likewise
  const tolerance = values['verify-tolerance'] === undefined ? 1e-4 : Number(values['verify-tolerance']);
  if (!(tolerance >= 0)) throw new UserError(`--verify-tolerance must be a non-negative number, got '${values['verify-tolerance']}'`);
  const inputShape = values['input-shape']?.split(',').map((s) => integerOption('input-shape', s.trim(), 1)!);
  return {
    model: positionals[0]!,
    input: values.input!,
    target: values.target!,
    loss: values.loss!,
    reduction,
    extensions,
    mcSamples: integerOption('mc-samples', values['mc-samples'], 1),
    seed: integerOption('seed', values.seed, 0),
    backend: values.backend ?? 'cpu',
    dtype,
    inputShape,
    out: values.out,
    format: values.format,
    memoryLimit: values['memory-limit'] === undefined ? undefined : parseByteSize(values['memory-limit']),
    verify: values['no-verify'] !== true,
    verifyTolerance: tolerance,
    modelLayout: values['model-layout'] === true,
  };
}

/** Warns on standard error about every array of the result with NaN or ±Infinity, naming it and counting them. */
function warnNonFinite(result: QuantitiesResult, format: OutputFormat, io: CliIo): void {
  const how = format === 'json' ? 'written as the strings "NaN", "Infinity", "-Infinity"' : 'kept exactly in the .npy files';
  for (const { label, data } of resultArrays(result).arrays) {
    let [nan, positive, negative] = [0, 0, 0];
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v !== v) nan++;
      else if (v === Infinity) positive++;
      else if (v === -Infinity) negative++;
    }
    const count = nan + positive + negative;
    if (count === 0) continue;
    io.stderr(`warning: ${label}: ${count} of ${data.length} values are not finite (${nan} NaN, ${positive} Infinity, ${negative} -Infinity), ${how}\n`);
  }
}

async function runQuantities(args: QuantitiesArgs, io: CliIo): Promise<number> {
  const at = (path: string) => resolve(io.cwd, path);
  const fs = io.fs ?? nodeFs;
  // resolve() drops a trailing slash, which asks for a folder of .npy files.
  const out = args.out === undefined ? undefined : `${at(args.out)}${/[/\\]$/.test(args.out) ? '/' : ''}`;
  const format = resolveOutputFormat(out, args.format, fs);
  if (out !== undefined) checkOutputTarget(out, format, fs, args.out);
  const memoryLimit = args.memoryLimit ?? defaultMemoryLimitBytes();
  const backend = await loadBackend(args.backend);
  const model = importOnnx(at(args.model), {
    backend,
    ...(args.dtype !== undefined && { dtype: args.dtype }),
    ...(args.inputShape !== undefined && { inputShape: args.inputShape }),
    memoryLimitBytes: memoryLimit,
  });
  io.stderr(`imported ${args.model} (${model.producer || 'unknown producer'}, opset ${model.opset}): ${model.steps.length} modules, ${model.parameters().length} parameters, ${model.dtype} on ${backend.name}\n`);
  for (const note of model.notes) io.stderr(`note: ${note}\n`);

  const inputFile = readTensorFile(at(args.input));
  if (model.input.dtype === 'int32') {
    const embedding = inputEmbedding(model);
    if (embedding === undefined) checkIntegers(inputFile, args.input, 'index', INT32);
    else checkIntegers(inputFile, args.input, 'token id', [0, embedding.numEmbeddings - 1], ` (the Embedding has ${embedding.numEmbeddings} rows)`);
  }
  const input = makeTensor(inputFile, model, model.input.dtype);
  model.checkInput(input);
  const sample = measureSample(model, inputFile);
  const loss = createLoss(args.loss, args.reduction);
  const targetFile = readTensorFile(at(args.target));
  if (loss.typeName === 'CrossEntropyLoss') {
    const classes = sample.outputShape[0] ?? 1;
    checkIntegers(targetFile, args.target, 'class index', [0, classes - 1], ` (the model's output has ${classes} classes)`);
  }
  const target = makeTensor(targetFile, model, loss.typeName === 'CrossEntropyLoss' ? 'int32' : model.dtype);
  if (target.shape[0] !== input.shape[0]) {
    throw new UserError(`${args.target}: the target's batch size ${target.shape[0] ?? '(scalar)'} differs from the input's ${input.shape[0]}`);
  }
  const mcSamples = args.mcSamples ?? 1;
  const estimate = estimateQuantitiesMemory({
    parameterShapes: model.parameters().map((p) => p.data.shape),
    batch: input.shape[0]!,
    outputSize: sizeOf(sample.outputShape),
    activationSize: sample.activationSize,
    mcSamples,
    bytesPerValue: model.dtype === 'float32' ? 4 : 8,
    extensions: args.extensions,
  });
  checkMemory(estimate, memoryLimit, { batch: input.shape[0]!, mcSamples });

  if (args.verify) {
    const report = await verifyWithOnnxRuntime(model, input, { tolerance: args.verifyTolerance });
    io.stderr(`${report.message}\n`);
    if (!report.ok) {
      io.stderr(
        report.nonFinite > 0
          ? 'the model or its input has non-finite values (NaN or Infinity), where the two computations may differ; check the weights and the input (or run with --no-verify)\n'
          : 'the imported model does not compute what ONNX Runtime computes; please report this with the model (or run with --no-verify)\n',
      );
      return EXIT_VERIFY;
    }
  }

  const result: QuantitiesResult = withExtensionProgress(args.extensions.length, io, (onProgress) =>
    computeQuantities(model, input, target, {
      loss,
      extensions: args.extensions,
      ...(args.mcSamples !== undefined && { mcSamples: args.mcSamples }),
      ...(args.seed !== undefined && { seed: args.seed }),
      onnxLayout: !args.modelLayout,
      onProgress,
    }),
  );
  warnNonFinite(result, format, io);
  if (out === undefined) {
    writeResultJson(result, io.stdout);
    io.stdout('\n');
  } else {
    try {
      writeResult(result, out!, format, fs);
    } catch (error) {
      throw new UserError(`cannot write ${args.out}: ${(error as Error).message} (nothing was written; a previous ${args.out} is unchanged)`);
    }
    io.stderr(`wrote ${args.out} (${format})\n`);
  }
  return EXIT_OK;
}

/**
 * Runs `compute` with a progress bar of its extensions on standard error (a
 * terminal: `backpack-ts [####....] 1/2 KFLR ...`), then prints one line with
 * every extension's time: `2 extensions in 1.25 s: BatchGrad 0.20 s, KFLR 1.05 s`.
 * A failure clears the bar and prints no summary.
 */
function withExtensionProgress<T>(total: number, io: CliIo, compute: (onProgress: (event: ProgressEvent) => void) => T): T {
  const progress = createProgress({
    total,
    label: 'backpack-ts',
    stream: { write: io.stderr, isTTY: io.stderrIsTTY === true, ...(io.stderrColumns !== undefined && { columns: io.stderrColumns }) },
  });
  const times: string[] = [];
  let totalSeconds = 0;
  try {
    const result = compute(({ index, extension, seconds }) => {
      if (seconds === undefined) {
        progress.update(index - 1, `${extension} ...`);
        return;
      }
      times.push(`${extension} ${seconds.toFixed(2)} s`);
      totalSeconds += seconds;
      progress.update(index, `${extension} done in ${seconds.toFixed(2)} s`);
    });
    progress.done(`${total} extension${total === 1 ? '' : 's'} in ${totalSeconds.toFixed(2)} s: ${times.join(', ')}`);
    return result;
  } finally {
    progress.done();
  }
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and returns the
 * exit code. User errors are printed as one line without a stack trace.
 */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      (command === undefined ? io.stderr : io.stdout)(HELP);
      return command === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (command !== 'quantities') throw new UserError(`unknown command '${command}' (the command is 'quantities'; see --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(HELP);
      return EXIT_OK;
    }
    return await runQuantities(parseQuantitiesArgs(rest), io);
  } catch (error) {
    if (isUserError(error) || isCoreUserError(error)) {
      io.stderr(`backpack-ts: error: ${(error as Error).message}\n`);
      return EXIT_USAGE;
    }
    io.stderr(`backpack-ts: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT_INTERNAL;
  }
}

/** Core's errors that mean "this extension does not support this model", which the user acts on. */
function isCoreUserError(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'UnsupportedModuleError' || name === 'WeightSharingError';
}
