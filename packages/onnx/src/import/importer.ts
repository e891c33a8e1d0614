/**
 * `importOnnx`: decodes an ONNX model and rebuilds its graph from core's
 * leaf modules with the file's weights.
 *
 * The import runs the graph once on a small zero batch ("trace") while it
 * builds it, so every module checks its input as it would at run time and
 * the importer knows every intermediate shape (for Reshape, auto padding,
 * global pooling). Shape computations (Shape, Gather, Concat, ... on
 * constants, with the batch size kept symbolic) are evaluated at import.
 * Anything the modules cannot express exactly is refused with an error that
 * names the node, its op type and what is supported.
 */
import { formatShape, getDefaultBackend, keep, sizeOf, tidy, zeros, type Backend, type FloatDType } from '@backpack-ts/core';
import { OnnxImportError, UserError } from '../errors.js';
import { dataTypeName, decodeModel, type ModelProto } from '../proto/onnx-proto.js';
import { OnnxFormatError } from '../proto/wire.js';
import { ImportContext } from './context.js';
import { describeNode, nodeLabel } from './describe.js';
import { modelFolder, readModelFile } from './files.js';
import { graphInterface } from './graph-io.js';
import { consumersOf, graphOrder } from './graph-order.js';
import { tensorValue, type TensorContext } from './initializers.js';
import { MemoryBudget, memoryLimit } from './memory-budget.js';
import { buildTree, plan, type Placement } from './naming.js';
import { OnnxModel, type OnnxInputSpec, type OnnxParameterSource, type OnnxStep, type OnnxScope } from './onnx-model.js';
import { HANDLERS, SUPPORTED_OPERATORS } from './ops/table.js';

/** Options of {@link importOnnx}. */
export interface ImportOptions {
  /** Backend for the parameters (default: core's default backend). */
  readonly backend?: Backend;
  /** Float dtype of parameters and computations (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
  /**
   * Shape of one sample (without the batch dimension), needed when the
   * model's input has symbolic dimensions other than the batch.
   */
  readonly inputShape?: readonly number[];
  /**
   * Most bytes the import may allocate (default `defaultMemoryLimitBytes()`:
   * half of the machine's memory, or of the container's limit). What the
   * model makes the import allocate (the file, initializers, constants
   * computed at import, the trace's tensors) is estimated from the shapes
   * before it is allocated; beyond the limit the import stops with an
   * `OnnxMemoryLimitError`.
   */
  readonly memoryLimitBytes?: number;
}

/** Decodes the model, naming the file (when it came from one) in format errors. */
function decode(bytes: Uint8Array, path: string | undefined): ModelProto {
  try {
    return decodeModel(bytes);
  } catch (error) {
    if (path !== undefined && error instanceof OnnxFormatError) throw new OnnxFormatError(`${path}: ${error.message}`);
    throw error;
  }
}

/**
 * Imports an ONNX model (its bytes, or the path of a `.onnx` file) as a core
 * module with the file's weights, in evaluation mode. Parameters carry the
 * initializer names (PyTorch exports keep PyTorch's: `0.weight`, `1.bias`;
 * where the exporter made an anonymous constant such as `onnx::MatMul_7`
 * for a bias-free Linear, the name comes from the node's module path:
 * `2.weight`). Throws an `OnnxImportError` (or `OnnxFormatError`) naming
 * the problem, never a silently different model.
 */
export function importOnnx(source: Uint8Array | ArrayBuffer | string, options: ImportOptions = {}): OnnxModel {
  const budget = new MemoryBudget(memoryLimit(options.memoryLimitBytes));
  const path = typeof source === 'string' ? source : undefined;
  const bytes = typeof source === 'string' ? readModelFile(source, budget) : source instanceof Uint8Array ? source : new Uint8Array(source);
  const tensors: TensorContext = { modelFolder: path === undefined ? undefined : modelFolder(path), budget };
  const model = decode(bytes, path);
  const graph = model.graph!;
  const backend = options.backend ?? getDefaultBackend();
  const dtype: FloatDType = options.dtype ?? (backend.dtypes.includes('float64') ? 'float64' : 'float32');
  if (!backend.dtypes.includes(dtype)) throw new OnnxImportError(`backend '${backend.name}' does not support ${dtype}`);

  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < 7) throw new OnnxImportError(`the model imports opset ${opset} of the default domain; opset 7 or later is supported (13 and later as PyTorch and tf2onnx export)`);
  if (model.functionCount > 0 && graph.node.some((n) => n.domain !== '' && n.domain !== 'ai.onnx')) {
    throw new OnnxImportError('the model uses model-local functions, which are not supported');
  }
  if (graph.sparseInitializerCount > 0) throw new OnnxImportError('sparse initializers are not supported');

  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const { input: inputInfo, intInput, sampleShape, batch, traceBatch, outputName } = graphInterface(graph, new Set(initializers.keys()), options.inputShape);

  // Order, liveness and consumers.
  const available = new Set<string>([...initializers.keys(), inputInfo.name]);
  const order = graphOrder(graph.node, available, [outputName]);
  const unsupported = order.filter((n) => (n.domain !== '' && n.domain !== 'ai.onnx') || !HANDLERS.has(n.opType));
  if (unsupported.length > 0) {
    const first = unsupported[0]!;
    const others = unsupported.slice(1).map(nodeLabel);
    throw new OnnxImportError(
      `${describeNode(first)}${first.domain ? ` in domain '${first.domain}'` : ''} is not supported${others.length > 0 ? `; nor are ${others.slice(0, 10).join(', ')}${others.length > 10 ? ', ...' : ''}` : ''}. Supported operators: ${Object.keys(SUPPORTED_OPERATORS).join(', ')}`,
    );
  }
  const consumers = consumersOf(order, outputName);

  let built: { ctx: ImportContext; placements: Placement[]; root: OnnxScope; outputValue: string } | undefined;
  // The trace's tensors are disposed; parameters and buffers are kept.
  tidy(() => {
    const ctx = new ImportContext(backend, dtype, opset, traceBatch, typeof batch !== 'number' || batch <= 0, consumers, tensors);
    for (const [name, t] of initializers) {
      if (!consumers.has(name)) continue;
      ctx.setConst(name, { ...tensorValue(t, `initializer '${name}'`, tensors), source: name });
    }
    const inputDType = intInput ? 'int32' : dtype;
    const traceShape = [traceBatch, ...sampleShape];
    budget.reserve(
      sizeOf(traceShape) * (intInput ? 4 : ctx.elementBytes),
      `the import's trace input ${formatShape(traceShape)}`,
      typeof batch === 'number' && batch > 0
        ? `the import runs the model once on a batch of the declared batch size ${batch}; export the model with a symbolic batch dimension (dynamic_axes) or a smaller one`
        : undefined,
    );
    ctx.values.set(inputInfo.name, { kind: 'data', name: inputInfo.name, tensor: zeros(traceShape, { backend, dtype: inputDType }) });
    for (const node of order) {
      if (ctx.consumed.has(node)) continue;
      try {
        HANDLERS.get(node.opType)!(ctx, node);
      } catch (error) {
        if (error instanceof UserError) throw error;
        // Core's argument checks (a module refusing a kernel size, ...): still the model's fault, with the node named.
        throw new OnnxImportError(`${describeNode(node)}: ${(error as Error).message}`);
      }
    }
    const out = ctx.values.get(outputName);
    if (out?.kind !== 'data') {
      throw new OnnxImportError(`the graph output '${outputName}' is ${out === undefined ? 'not produced' : 'a constant'}; it must be computed from the input`);
    }
    const placements = plan(ctx.built);
    const root = buildTree(ctx.built, placements);
    for (const b of ctx.built) {
      for (const p of b.module.parameters()) keep(p.data);
      for (const [, buffer] of b.module.namedBuffers()) keep(buffer);
    }
    built = { ctx, placements, root, outputValue: out.name };
  });
  const { ctx, placements, root, outputValue } = built!;

  const steps: OnnxStep[] = ctx.built.map((b) => ({
    module: b.module,
    inputs: b.inputs,
    output: b.output,
    nodes: b.nodes.map(nodeLabel).join(' + '),
  }));
  const exposedNames = new Map<string, string>();
  const sources = new Map<string, OnnxParameterSource>();
  for (const p of placements) {
    for (const [k, v] of p.exposed) exposedNames.set(k, v);
    for (const [k, v] of p.sources) sources.set(k, v);
  }
  for (const [name, s] of sources) {
    if (s.transposed) ctx.notes.push(`'${name}' holds the transpose of initializer '${s.initializer}' ${formatShape(s.onnxShape)} (Linear's [out, in] layout)`);
  }
  const input: OnnxInputSpec = {
    name: inputInfo.name,
    sampleShape,
    batch,
    dtype: intInput ? 'int32' : dtype,
    onnxType: dataTypeName(inputInfo.elemType),
  };
  return new OnnxModel({
    root,
    steps,
    input,
    outputValue,
    outputName,
    exposedNames,
    sources,
    bytes,
    filePath: path,
    dtype,
    backend,
    opset,
    producer: `${model.producerName} ${model.producerVersion}`.trim(),
    notes: ctx.notes,
  });
}

