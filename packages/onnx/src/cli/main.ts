/**
 * The `backpack-ts` command line.
 *
 *   backpack-ts quantities model.onnx --input X.json --target y.json \
 *     --loss CrossEntropyLoss --extensions BatchGrad,DiagGGNExact,KFLR --out result.json
 *
 * Exit codes: 0 done, 1 internal error (printed with its stack), 2 a
 * problem with the arguments or files (printed as one message), 3 the
 * forward check against onnxruntime-node failed.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { tensor, type FloatDType, type Reduction, type Tensor } from '@backpack-ts/core';
import { loadBackend, BACKEND_PACKAGES } from '../backends.js';
import { UserError, isUserError } from '../errors.js';
import { importOnnx } from '../import/importer.js';
import type { OnnxModel } from '../import/onnx-model.js';
import { EXTENSION_NAMES, LOSS_NAMES, computeQuantities, createExtension, createLoss, type QuantitiesResult } from '../quantities.js';
import { readTensorFile, type TensorFile } from '../tensor-io.js';
import { verifyWithOnnxRuntime } from '../verify.js';

/** Where the CLI reads and writes: injectable so tests run it in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
}

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE = 2;
export const EXIT_VERIFY = 3;

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
  --backend <name>       ${Object.keys(BACKEND_PACKAGES).join(' | ')} (default cpu; others need their package installed)
  --dtype <dtype>        float64 | float32 (default float64 where the backend has it)
  --input-shape <dims>   shape of one sample, e.g. 3,32,32, for models with symbolic input dimensions
  --out <file>           where to write the JSON result (default: standard output)
  --no-verify            skip the forward check against onnxruntime-node
  --verify-tolerance <t> largest accepted relative difference of that check (default 1e-4)
  --model-layout         report transposed weights in the module's layout, not the ONNX initializer's

Output: {"loss": number, "output": {shape, data}, "quantities": {Extension: {parameter: {shape, data} | [{shape, data}, ...]}}}
with "grad" (the gradient) among the quantities and parameters named as in the ONNX file.
A progress line per extension goes to standard error.

Example (a model exported with torch.onnx.export):
  backpack-ts quantities model.onnx --input X.json --target y.json --loss CrossEntropyLoss \\
    --extensions BatchGrad,DiagGGNExact,KFLR --out result.json

Exit codes: 0 done, 2 bad arguments or files (unsupported operator, shape mismatch, ...), 3 forward check failed, 1 internal error.
`;

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
};

function integerOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UserError(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

function makeTensor(file: TensorFile, what: string, path: string, model: OnnxModel, dtype: FloatDType | 'int32'): Tensor {
  if (dtype === 'int32' && !file.integer) {
    throw new UserError(`${path}: ${what} must hold integers (class indices or token ids), got non-integer values`);
  }
  return tensor(file.data, file.shape, { backend: model.backend, dtype });
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
  if (!LOSS_NAMES.some((l) => l.toLowerCase() === values.loss!.toLowerCase())) {
    throw new UserError(`unknown loss '${values.loss}'; available: ${LOSS_NAMES.join(', ')}`);
  }
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
    verify: values['no-verify'] !== true,
    verifyTolerance: tolerance,
    modelLayout: values['model-layout'] === true,
  };
}

async function runQuantities(args: QuantitiesArgs, io: CliIo): Promise<number> {
  const at = (path: string) => resolve(io.cwd, path);
  const backend = await loadBackend(args.backend);
  const model = importOnnx(at(args.model), {
    backend,
    ...(args.dtype !== undefined && { dtype: args.dtype }),
    ...(args.inputShape !== undefined && { inputShape: args.inputShape }),
  });
  io.stderr(`imported ${args.model} (${model.producer || 'unknown producer'}, opset ${model.opset}): ${model.steps.length} modules, ${model.parameters().length} parameters, ${model.dtype} on ${backend.name}\n`);
  for (const note of model.notes) io.stderr(`note: ${note}\n`);

  const input = makeTensor(readTensorFile(at(args.input)), 'the input', args.input, model, model.input.dtype);
  model.checkInput(input);
  const loss = createLoss(args.loss, args.reduction);
  const target = makeTensor(readTensorFile(at(args.target)), 'the target', args.target, model, loss.typeName === 'CrossEntropyLoss' ? 'int32' : model.dtype);
  if (target.shape[0] !== input.shape[0]) {
    throw new UserError(`${args.target}: the target's batch size ${target.shape[0] ?? '(scalar)'} differs from the input's ${input.shape[0]}`);
  }

  if (args.verify) {
    const report = await verifyWithOnnxRuntime(model, input, { tolerance: args.verifyTolerance });
    io.stderr(`${report.message}\n`);
    if (!report.ok) {
      io.stderr('the imported model does not compute what ONNX Runtime computes; please report this with the model (or run with --no-verify)\n');
      return EXIT_VERIFY;
    }
  }

  const result: QuantitiesResult = computeQuantities(model, input, target, {
    loss,
    extensions: args.extensions,
    ...(args.mcSamples !== undefined && { mcSamples: args.mcSamples }),
    ...(args.seed !== undefined && { seed: args.seed }),
    onnxLayout: !args.modelLayout,
    // One line per extension: its name when it starts, its time when it is done.
    onProgress: ({ index, total, extension, seconds }) =>
      io.stderr(seconds === undefined ? `[${index}/${total}] ${extension} ...` : ` done in ${seconds.toFixed(2)} s\n`),
  });
  const json = JSON.stringify(result);
  if (args.out === undefined) io.stdout(`${json}\n`);
  else {
    try {
      writeFileSync(at(args.out), json);
    } catch (error) {
      throw new UserError(`cannot write ${args.out}: ${(error as Error).message}`);
    }
    io.stderr(`wrote ${args.out}\n`);
  }
  return EXIT_OK;
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
