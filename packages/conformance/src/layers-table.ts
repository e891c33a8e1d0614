/**
 * The supported-layers table of the README, generated: every leaf module of
 * core (and the losses) against the catalog's 15 extensions and the
 * curvature-product extensions (HMP, GGNMP, PCHMP), each cell what the
 * extension's own `check` says about a recorded call of the module: Y, or N
 * with the reason it gives; then two graphs (a branching one, one sharing a
 * parameter) against every extension, each cell what a backward pass with it
 * says. Nothing here lists what is supported; the rule registries, the
 * modules' traits and `sampleMixingMessage` decide, so the table cannot
 * drift from the code (a test regenerates and compares it).
 */
import { CURVATURE_PRODUCT_EXTENSIONS, EXTENSIONS } from '@backpack-ts/catalog';
import {
  AdaptiveAvgPool1d,
  AdaptiveAvgPool2d,
  AdaptiveAvgPool3d,
  Add,
  AvgPool1d,
  AvgPool2d,
  AvgPool3d,
  BCEWithLogitsLoss,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv1d,
  Conv2d,
  Conv3d,
  ConvTranspose1d,
  ConvTranspose2d,
  ConvTranspose3d,
  CrossEntropyLoss,
  Dropout,
  ELU,
  Embedding,
  Flatten,
  Generator,
  Identity,
  LeakyReLU,
  Linear,
  LSTM,
  LogSigmoid,
  MSELoss,
  MaxPool1d,
  MaxPool2d,
  MaxPool3d,
  Pad,
  Permute,
  RNN,
  ReLU,
  ReduceTuple,
  SELU,
  ScaleModule,
  Sigmoid,
  Slicing,
  SumModule,
  Tanh,
  ZeroPad2d,
  backpack,
  extend,
  tensor,
  zeros,
  type Backend,
  type Extension,
  type GraphNode,
  LossModule,
  type LeafModule,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';

/** The table's columns: the catalog's extensions, then its curvature-product extensions, each in its order. */
const COLUMNS: ReadonlyMap<string, () => Extension> = new Map(
  [...EXTENSIONS.values(), ...CURVATURE_PRODUCT_EXTENSIONS.values()].map((entry) => [entry.name, () => entry.create()]),
);

/** One row of the table: a module (in a mode), and the inputs of one recorded call. */
export interface LayerExample {
  /** The row's label, e.g. `BatchNorm2d (training)`. */
  readonly label: string;
  /** Builds the module on `backend` (float64, seeded). */
  readonly create: (backend: Backend) => LeafModule;
  /** Shapes of its inputs, batch first; an int32 input is written `int:[...]`. */
  readonly inputs: readonly (
    | readonly number[]
    | {
        /** Shape of an int32 input (indices), batch first. */
        readonly int: readonly number[];
        /** The indices are drawn from `[0, below)`. */
        readonly below: number;
      }
  )[];
  /** Evaluation mode (default), or training mode. */
  readonly training?: boolean;
  /** The inputs made by a function instead of zeros of `inputs`' shapes (ReduceTuple takes a recurrent layer's output). */
  readonly inputsFor?: (backend: Backend) => Tensor[];
}

const float64 = (backend: Backend) => ({ backend, dtype: 'float64' as const, generator: new Generator(0) });

/** The rows: every concrete leaf module class of core and the losses (a test checks none is missing). */
export const LAYER_EXAMPLES: readonly LayerExample[] = [
  { label: 'Linear', create: (b) => new Linear(3, 2, float64(b)), inputs: [[2, 3]] },
  { label: 'Conv1d', create: (b) => new Conv1d(1, 2, 2, float64(b)), inputs: [[2, 1, 4]] },
  { label: 'Conv2d', create: (b) => new Conv2d(1, 2, 2, float64(b)), inputs: [[2, 1, 3, 3]] },
  { label: 'Conv3d', create: (b) => new Conv3d(1, 2, 2, float64(b)), inputs: [[2, 1, 3, 3, 3]] },
  { label: 'ConvTranspose1d', create: (b) => new ConvTranspose1d(1, 2, 2, float64(b)), inputs: [[2, 1, 4]] },
  { label: 'ConvTranspose2d', create: (b) => new ConvTranspose2d(1, 2, 2, float64(b)), inputs: [[2, 1, 3, 3]] },
  { label: 'ConvTranspose3d', create: (b) => new ConvTranspose3d(1, 2, 2, float64(b)), inputs: [[2, 1, 2, 2, 2]] },
  { label: 'BatchNorm1d (evaluation)', create: (b) => new BatchNorm1d(3, float64(b)), inputs: [[2, 3]] },
  { label: 'BatchNorm1d (training)', create: (b) => new BatchNorm1d(3, float64(b)), inputs: [[2, 3]], training: true },
  { label: 'BatchNorm2d (evaluation)', create: (b) => new BatchNorm2d(2, float64(b)), inputs: [[2, 2, 3, 3]] },
  { label: 'BatchNorm2d (training)', create: (b) => new BatchNorm2d(2, float64(b)), inputs: [[2, 2, 3, 3]], training: true },
  { label: 'BatchNorm3d (evaluation)', create: (b) => new BatchNorm3d(2, float64(b)), inputs: [[2, 2, 2, 2, 2]] },
  { label: 'BatchNorm3d (training)', create: (b) => new BatchNorm3d(2, float64(b)), inputs: [[2, 2, 2, 2, 2]], training: true },
  { label: 'Embedding', create: (b) => new Embedding(4, 2, float64(b)), inputs: [{ int: [2, 3], below: 4 }] },
  { label: 'MaxPool1d', create: () => new MaxPool1d(2), inputs: [[2, 1, 4]] },
  { label: 'MaxPool2d', create: () => new MaxPool2d(2), inputs: [[2, 1, 4, 4]] },
  { label: 'MaxPool3d', create: () => new MaxPool3d(2), inputs: [[2, 1, 2, 2, 2]] },
  { label: 'AvgPool1d', create: () => new AvgPool1d(2), inputs: [[2, 1, 4]] },
  { label: 'AvgPool2d', create: () => new AvgPool2d(2), inputs: [[2, 1, 4, 4]] },
  { label: 'AvgPool3d', create: () => new AvgPool3d(2), inputs: [[2, 1, 2, 2, 2]] },
  { label: 'AdaptiveAvgPool1d', create: () => new AdaptiveAvgPool1d(2), inputs: [[2, 1, 4]] },
  { label: 'AdaptiveAvgPool2d', create: () => new AdaptiveAvgPool2d(2), inputs: [[2, 1, 4, 4]] },
  { label: 'AdaptiveAvgPool3d', create: () => new AdaptiveAvgPool3d(1), inputs: [[2, 1, 2, 2, 2]] },
  { label: 'ZeroPad2d', create: () => new ZeroPad2d(1), inputs: [[2, 1, 2, 2]] },
  { label: 'Pad', create: () => new Pad([1, 0, 0, 2], { value: 0.5 }), inputs: [[2, 2, 3]] },
  { label: 'Permute', create: () => new Permute([0, 2, 1]), inputs: [[2, 2, 3]] },
  { label: 'Slicing', create: () => new Slicing([{}, { start: 1, step: 2 }, 0]), inputs: [[2, 5, 3]] },
  { label: 'RNN', create: (b) => new RNN(3, 2, { ...float64(b), batchFirst: true }), inputs: [[2, 4, 3]] },
  { label: 'LSTM', create: (b) => new LSTM(3, 2, { ...float64(b), batchFirst: true }), inputs: [[2, 4, 3]] },
  {
    label: 'ReduceTuple (after RNN or LSTM)',
    create: () => new ReduceTuple(0),
    inputs: [[2, 4, 2]],
    inputsFor: (b) => [new RNN(3, 2, { ...float64(b), batchFirst: true }).forward(zeros([2, 4, 3], { backend: b, dtype: 'float64' }))],
  },
  { label: 'Flatten', create: () => new Flatten(), inputs: [[2, 2, 3]] },
  { label: 'Identity', create: () => new Identity(), inputs: [[2, 3]] },
  { label: 'Dropout (evaluation)', create: () => new Dropout(0.5), inputs: [[2, 3]] },
  { label: 'Dropout (training)', create: () => new Dropout(0.5, new Generator(0)), inputs: [[2, 3]], training: true },
  { label: 'ScaleModule', create: () => new ScaleModule(0.5), inputs: [[2, 3]] },
  { label: 'Add', create: () => new Add(), inputs: [[2, 3], [2, 3]] },
  { label: 'SumModule', create: () => new SumModule(), inputs: [[2, 3], [2, 3]] },
  { label: 'ReLU', create: () => new ReLU(), inputs: [[2, 3]] },
  { label: 'Sigmoid', create: () => new Sigmoid(), inputs: [[2, 3]] },
  { label: 'Tanh', create: () => new Tanh(), inputs: [[2, 3]] },
  { label: 'LeakyReLU', create: () => new LeakyReLU(), inputs: [[2, 3]] },
  { label: 'ELU', create: () => new ELU(), inputs: [[2, 3]] },
  { label: 'SELU', create: () => new SELU(), inputs: [[2, 3]] },
  { label: 'LogSigmoid', create: () => new LogSigmoid(), inputs: [[2, 3]] },
  { label: 'CrossEntropyLoss [N, C]', create: () => new CrossEntropyLoss(), inputs: [[2, 3], { int: [2], below: 3 }] },
  { label: 'CrossEntropyLoss [N, C, d1, ...]', create: () => new CrossEntropyLoss(), inputs: [[2, 3, 4], { int: [2, 4], below: 3 }] },
  { label: "CrossEntropyLoss (reduction 'none')", create: () => new CrossEntropyLoss('none'), inputs: [[1, 3], { int: [1], below: 3 }] },
  { label: 'MSELoss (any shape)', create: () => new MSELoss(), inputs: [[2, 3, 2], [2, 3, 2]] },
  { label: "MSELoss (reduction 'none')", create: () => new MSELoss('none'), inputs: [[1, 1], [1, 1]] },
  { label: 'BCEWithLogitsLoss (any shape)', create: () => new BCEWithLogitsLoss(), inputs: [[2, 3], [2, 3]] },
  { label: "BCEWithLogitsLoss (reduction 'none')", create: () => new BCEWithLogitsLoss('none'), inputs: [[1, 1], [1, 1]] },
];

/** One recorded call of the example's module on small inputs. */
function record(example: LayerExample, backend: Backend): GraphNode {
  const module = extend(example.create(backend));
  module.train(example.training === true);
  const inputs = example.inputsFor?.(backend) ?? example.inputs.map((spec) =>
    'int' in spec
      ? tensor(new Array<number>(spec.int.reduce((a, b) => a * b, 1)).fill(spec.below - 1), spec.int, { backend, dtype: 'int32' })
      : zeros(spec, { backend, dtype: 'float64' }).requiresGrad_(),
  );
  return module.forward(...inputs).producer!;
}

/**
 * The message of what `attempt` throws, without the extension's name in
 * front and with `subject` (a module's description) made generic, so one
 * reason reads the same in every cell; undefined when it throws nothing.
 */
function refusalOf(extensionName: string, attempt: () => void, subject?: string): string | undefined {
  try {
    attempt();
    return undefined;
  } catch (error) {
    // "BatchNorm2d is in training mode" and "BatchNorm1d is ..." are one reason.
    // Messages that name the extension inside (an UnsupportedModuleError) read the same for every extension.
    const message = (error as Error).message.replace(new RegExp(`^${extensionName}( cannot run)?: `), '');
    return (subject === undefined ? message : message.replaceAll(subject, 'the module')).replaceAll(extensionName, 'the extension');
  }
}

/**
 * What `extension.check` says about the node: undefined (supported), or its
 * refusal. A loss is checked as the root of a pass, any other module as the
 * only call inside one, its output consumed by nothing else and its
 * parameters used once.
 */
function refusal(extensionName: string, node: GraphNode): string | undefined {
  const extension = COLUMNS.get(extensionName)!();
  const graph = {
    root: node.module instanceof LossModule ? node : undefined,
    steps: [node],
    nodes: [node],
    edgesOf: () => [],
    parameterUses: new Map(node.module.ownNamedParameters().map(([, p]) => [p, 1])),
  } as unknown as RecordedGraph;
  return refusalOf(extensionName, () => extension.check(node, graph), node.module.describe());
}

/** A graph of the second table: its label, and its loss, recorded afresh for each extension. */
interface GraphExample {
  /** The row's label. */
  readonly label: string;
  /** Records the forward pass on `backend` and returns the loss. */
  readonly loss: (backend: Backend) => Tensor;
}

/** The graphs whose structure, not their modules, some extensions refuse. */
const GRAPH_EXAMPLES: readonly GraphExample[] = [
  {
    label: 'a tensor feeding two modules (a residual connection: `h + relu(h)`)',
    loss: (b) => {
      const h = extend(new Linear(3, 3, float64(b))).forward(zeros([2, 3], { backend: b, dtype: 'float64' }));
      const output = extend(new Add()).forward(extend(new ReLU()).forward(h), h);
      return extend(new MSELoss()).forward(output, zeros([2, 3], { backend: b, dtype: 'float64' }));
    },
  },
  {
    label: 'a parameter used by two calls (one `Linear` applied twice)',
    loss: (b) => {
      const linear = extend(new Linear(3, 3, float64(b)));
      const output = linear.forward(extend(new Tanh()).forward(linear.forward(zeros([2, 3], { backend: b, dtype: 'float64' }))));
      return extend(new MSELoss()).forward(output, zeros([2, 3], { backend: b, dtype: 'float64' }));
    },
  },
];

/** One markdown table, a column per extension: a cell is `Y`, or `N (k)` with k the reason's number in `reasons`, where a new reason is appended. */
function markdownTable(header: string, rows: readonly (readonly [string, readonly (string | undefined)[]])[], reasons: string[]): string[] {
  const names = [...COLUMNS.keys()];
  return [
    `| ${header} | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---').join(' | ')} |`,
    ...rows.map(([label, cells]) => {
      const marks = cells.map((reason) => {
        if (reason === undefined) return 'Y';
        if (!reasons.includes(reason)) reasons.push(reason);
        return `N (${reasons.indexOf(reason) + 1})`;
      });
      return `| ${label} | ${marks.join(' | ')} |`;
    }),
  ];
}

/**
 * The markdown tables, one column per extension (the catalog's in its
 * order, then HMP, GGNMP, PCHMP): one row per {@link LAYER_EXAMPLES} entry,
 * then a second table of graphs whose structure some extensions refuse
 * (branching, weight sharing), each cell what a backward pass with the
 * extension says. A cell is `Y`, or `N (k)` with reason k listed below the
 * tables.
 */
export function supportedLayersTable(backend: Backend): string {
  const names = [...COLUMNS.keys()];
  const reasons: string[] = [];
  const modules = markdownTable(
    'module',
    LAYER_EXAMPLES.map((example) => {
      const node = record(example, backend);
      return [example.label, names.map((name) => refusal(name, node))];
    }),
    reasons,
  );
  const graphs = markdownTable(
    'graph',
    GRAPH_EXAMPLES.map((example) => [
      example.label,
      names.map((name) => {
        const loss = example.loss(backend);
        return refusalOf(name, () => backpack([COLUMNS.get(name)!()], () => loss.backward()));
      }),
    ]),
    reasons,
  );
  return [...modules, '', ...graphs, '', ...reasons.map((reason, i) => `${i + 1}. ${reason}`)].join('\n');
}

/** The README markers between which the generated table stands. */
export const LAYERS_TABLE_MARKERS: {
  /** The comment line after which the generated table starts. */
  readonly start: '<!-- layers-table:start (generated by `pnpm layers-table`; do not edit) -->';
  /** The comment line before which the generated table ends. */
  readonly end: '<!-- layers-table:end -->';
} = { start: '<!-- layers-table:start (generated by `pnpm layers-table`; do not edit) -->', end: '<!-- layers-table:end -->' };

/** `readme` with the text between the markers replaced by `table`; throws if the markers are missing. */
export function withLayersTable(readme: string, table: string): string {
  const start = readme.indexOf(LAYERS_TABLE_MARKERS.start);
  const end = readme.indexOf(LAYERS_TABLE_MARKERS.end);
  if (start < 0 || end < start) throw new Error(`the README has no section between '${LAYERS_TABLE_MARKERS.start}' and '${LAYERS_TABLE_MARKERS.end}'`);
  return `${readme.slice(0, start + LAYERS_TABLE_MARKERS.start.length)}\n${table}\n${readme.slice(end)}`;
}
