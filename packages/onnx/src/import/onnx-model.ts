/**
 * The module an ONNX import produces: a graph container whose `forward` calls
 * core leaf modules in topological order, so `extend()` and every extension
 * work on it as on a hand-written model.
 *
 * Children are arranged so that `namedParameters()` returns the ONNX names:
 * an initializer `layer1.0.conv1.weight` belongs to the leaf `conv1` inside
 * containers `layer1` and `0`, as in PyTorch. Initializers whose names do not
 * have that form (tf2onnx's `dense/kernel:0`) belong to a leaf at the root
 * with an internal name, and this class translates those names in
 * `namedParameters`, `namedBuffers` and `loadStateDict`.
 */
import { Module, formatShape, type Backend, type DType, type FloatDType, type LeafModule, type Tensor } from '@backpack-ts/core';
import { OnnxInputError } from '../errors.js';

/** A plain container that groups leaves under a dotted prefix (PyTorch's submodules); it is never called. */
export class OnnxScope extends Module {
  readonly typeName = 'Scope';
  /** The children by name, for lookups in constant time while the import builds the tree. */
  private readonly byName = new Map<string, Module>();

  forward(): Tensor {
    throw new Error(`${this.describe()} groups modules of an imported ONNX graph and is not callable; call the model`);
  }

  /** Adds a child (used while the import builds the tree). */
  add<M extends Module>(name: string, module: M): M {
    this.byName.set(name, this.registerModule(name, module));
    return module;
  }

  /** The direct child called `name`, if any. */
  child(name: string): Module | undefined {
    return this.byName.get(name);
  }
}

/** One call of a leaf module in the graph: which values go in, which comes out. */
export interface OnnxStep {
  /** The module called. */
  readonly module: LeafModule;
  /** Names of the ONNX values passed in, in order. */
  readonly inputs: readonly string[];
  /** Name of the ONNX value it produces. */
  readonly output: string;
  /** The ONNX node(s) it came from, for messages, e.g. `"/0/Gemm (Gemm)"`. */
  readonly nodes: string;
}

/** How a parameter (or buffer) relates to the ONNX tensor it was read from. */
export interface OnnxParameterSource {
  /** Name of the initializer (or Constant output) in the ONNX graph. */
  readonly initializer: string;
  /** Its shape in the ONNX file. */
  readonly onnxShape: readonly number[];
  /** The module holds the transpose (MatMul weights `[in, out]`, Gemm with `transB = 0`). */
  readonly transposed: boolean;
  /** The module holds `scale ×` the initializer (Gemm's alpha or beta when not 1). */
  readonly scale: number;
}

/** The graph input the model expects. */
export interface OnnxInputSpec {
  /** The input's name in the ONNX graph. */
  readonly name: string;
  /** Dimensions after the batch dimension, as fixed at import. */
  readonly sampleShape: readonly number[];
  /** The declared batch dimension: a number, a symbolic name, or undefined when unknown. */
  readonly batch: number | string | undefined;
  /** `int32` for index inputs (embeddings), else the model's float dtype. */
  readonly dtype: DType;
  /** ONNX element type name (`float`, `int64`, ...). */
  readonly onnxType: string;
}

/** Everything `importOnnx` hands the model. */
export interface OnnxModelParts {
  readonly root: OnnxScope;
  readonly steps: readonly OnnxStep[];
  readonly input: OnnxInputSpec;
  /** Value name of the graph output (after aliases). */
  readonly outputValue: string;
  /** The graph output's name in the file. */
  readonly outputName: string;
  /** Internal dotted name -> name shown to the user (only where they differ). */
  readonly exposedNames: ReadonlyMap<string, string>;
  /** Source of each parameter and buffer, by the name shown to the user. */
  readonly sources: ReadonlyMap<string, OnnxParameterSource>;
  readonly bytes: Uint8Array;
  readonly filePath: string | undefined;
  readonly dtype: FloatDType;
  readonly backend: Backend;
  readonly opset: number;
  readonly producer: string;
  readonly notes: readonly string[];
}

/**
 * An imported ONNX model: a core `Module` (extend it, run it, load state
 * dicts into it) that remembers the ONNX file for `verifyWithOnnxRuntime`.
 * It starts in evaluation mode, as ONNX inference graphs compute
 * (BatchNormalization with running statistics, Dropout off).
 */
export class OnnxModel extends Module {
  readonly typeName = 'OnnxModel';
  /** The leaf modules in the order `forward` calls them. */
  readonly steps: readonly OnnxStep[];
  /** The graph input the model expects. */
  readonly input: OnnxInputSpec;
  /** Name of the graph output in the ONNX file. */
  readonly outputName: string;
  /** The model's bytes (what `verifyWithOnnxRuntime` runs). */
  readonly bytes: Uint8Array;
  /** The file it was read from, if any (needed by ONNX Runtime for external data). */
  readonly filePath: string | undefined;
  /** Dtype of the parameters and of every float tensor the model computes. */
  readonly dtype: FloatDType;
  /** Backend the parameters live on. */
  readonly backend: Backend;
  /** The default-domain opset the file imports. */
  readonly opset: number;
  /** `producer_name producer_version` of the file. */
  readonly producer: string;
  /** Where parameters differ from the ONNX tensors (transposed, scaled), in words. */
  readonly notes: readonly string[];
  private readonly outputValue: string;
  private readonly exposed: ReadonlyMap<string, string>;
  private readonly sourceByName: ReadonlyMap<string, OnnxParameterSource>;

  constructor(parts: OnnxModelParts) {
    super();
    for (const [name, child] of parts.root.namedChildren()) this.registerModule(name, child);
    this.steps = parts.steps;
    this.input = parts.input;
    this.outputValue = parts.outputValue;
    this.outputName = parts.outputName;
    this.exposed = parts.exposedNames;
    this.sourceByName = parts.sources;
    this.bytes = parts.bytes;
    this.filePath = parts.filePath;
    this.dtype = parts.dtype;
    this.backend = parts.backend;
    this.opset = parts.opset;
    this.producer = parts.producer;
    this.notes = parts.notes;
    this.eval();
  }

  /** Checks that `input` fits the graph input (per-sample shape, dtype), with a message naming both. */
  checkInput(input: Tensor): void {
    const { name, sampleShape, dtype } = this.input;
    const expected = `[batch, ${sampleShape.join(', ')}]`.replace(', ]', ']');
    if (input === undefined || input === null || (input as { isTensor?: boolean }).isTensor !== true) {
      throw new OnnxInputError(`the ONNX model expects one input tensor '${name}' of shape ${expected}`);
    }
    const sample = input.shape.slice(1);
    if (input.rank !== sampleShape.length + 1 || sample.some((d, i) => d !== sampleShape[i])) {
      throw new OnnxInputError(
        `input of shape ${formatShape(input.shape)} does not fit the ONNX model's input '${name}' of shape ${expected} (batch first)`,
      );
    }
    if (input.shape[0] === 0) throw new OnnxInputError(`input of shape ${formatShape(input.shape)} has an empty batch`);
    const floatIn = input.dtype !== 'int32';
    const floatExpected = dtype !== 'int32';
    if (floatIn !== floatExpected) {
      throw new OnnxInputError(
        `the ONNX model's input '${name}' holds ${this.input.onnxType} values (${floatExpected ? 'floats' : 'int32 indices'}), got ${input.dtype}`,
      );
    }
  }

  /** Runs the graph: each step's leaf module on the values it names. */
  forward(...inputs: Tensor[]): Tensor {
    if (inputs.length !== 1) {
      throw new OnnxInputError(`the ONNX model has one input ('${this.input.name}'), got ${inputs.length} tensors`);
    }
    const input = inputs[0]!;
    this.checkInput(input);
    const values = new Map<string, Tensor>([[this.input.name, input]]);
    for (const step of this.steps) {
      const args = step.inputs.map((name) => values.get(name)!);
      values.set(step.output, step.module.forward(...args));
    }
    return values.get(this.outputValue)!;
  }

  /** Parameters with the names the ONNX file gives them (see the class comment). */
  override namedParameters() {
    return super.namedParameters().map(([name, p]): [string, typeof p] => [this.exposed.get(name) ?? name, p]);
  }

  /** Buffers (BatchNorm's running statistics) with the names the ONNX file gives them. */
  override namedBuffers(): [string, Tensor][] {
    return super.namedBuffers().map(([name, b]): [string, Tensor] => [this.exposed.get(name) ?? name, b]);
  }

  /**
   * As `Module.loadStateDict`, by the names `namedParameters()` and
   * `namedBuffers()` show: every name must exist and every shape, dtype and
   * backend match; nothing changes unless all do.
   */
  override loadStateDict(state: Readonly<Record<string, Tensor>>): void {
    const parameters = new Map(this.namedParameters());
    const buffers = new Map<string, { owner: Module; local: string; value: Tensor }>();
    for (const [path, module] of super.namedModules()) {
      if (module === this || module instanceof OnnxScope) continue;
      for (const [local, value] of module.namedBuffers()) {
        const inner = path === '' ? local : `${path}.${local}`;
        buffers.set(this.exposed.get(inner) ?? inner, { owner: module, local, value });
      }
    }
    const problems: string[] = [];
    for (const [name, value] of Object.entries(state)) {
      const current = parameters.get(name)?.data ?? buffers.get(name)?.value;
      if (current === undefined) problems.push(`unknown name '${name}'`);
      else if (!(value as { isTensor?: boolean })?.isTensor) problems.push(`'${name}' is not a tensor`);
      else if (current.shape.length !== value.shape.length || current.shape.some((d, i) => d !== value.shape[i])) {
        problems.push(`'${name}' has shape ${formatShape(current.shape)}, got ${formatShape(value.shape)}`);
      } else if (current.dtype !== value.dtype || current.backend !== value.backend) {
        problems.push(`'${name}' is ${current.dtype} on '${current.backend.name}', got ${value.dtype} on '${value.backend.name}'`);
      }
    }
    if (problems.length > 0) throw new OnnxInputError(`${this.describe()}.loadStateDict: ${problems.join('; ')}`);
    for (const [name, value] of Object.entries(state)) {
      const parameter = parameters.get(name);
      if (parameter !== undefined) parameter.data = value;
      else {
        const { owner, local } = buffers.get(name)!;
        owner.loadStateDict({ [local]: value });
      }
    }
  }

  /** Where the parameter or buffer `name` came from in the ONNX file. */
  source(name: string): OnnxParameterSource | undefined {
    return this.sourceByName.get(name);
  }

  /** Every parameter's and buffer's source, by name. */
  sources(): ReadonlyMap<string, OnnxParameterSource> {
    return this.sourceByName;
  }

  /** One line per step: `"0: Linear <- Gemm '/0/Gemm'"`, for logs. */
  summary(): string {
    const paths = new Map(this.namedModules().map(([path, m]) => [m, path]));
    return this.steps.map((step) => `${paths.get(step.module) ?? '?'}: ${step.module.typeName} <- ${step.nodes}`).join('\n');
  }
}
