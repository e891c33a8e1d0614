import {
  ConvNd,
  ConvTransposeNd,
  LossModule,
  RuleBasedExtension,
  add,
  concat,
  sampleChunks,
  selectIndices,
  tidy,
  checkSubsamplingFits,
  restrictCall,
  type ExtensionPass,
  type GraphNode,
  type LeafModule,
  type ModuleRules,
  type Parameter,
  type Quantity,
  type RecordedGraph,
  type Tensor,
} from '@backpack-ts/core';
import { perSampleGradient } from './per-sample-gradient.js';

/**
 * A first-order rule: the module's quantity for its parameter `name`, from the
 * recorded call and the gradient of the loss w.r.t. the module's output.
 */
export type FirstOrderRule = (node: GraphNode, gradOutput: Tensor, name: string) => Tensor;

/** The trait the first-order fallback and weight sharing need. */
const PER_SAMPLE_TRAIT = 'the trait perSampleParameterJacobian';

function hasPerSampleJacobian(module: LeafModule): boolean {
  return module.traits.perSampleParameterJacobian === true;
}

/**
 * Base of the first-order extensions. Each is defined by what it computes
 * from the per-sample gradients (`fromBatchGrad`): that is its fallback rule,
 * for every module that declares the trait `perSampleParameterJacobian`.
 * Package defaults and `setModuleRule` add faster rules that skip
 * materialising them (e.g. SumGradSquared of a Linear layer).
 *
 * A parameter used by several modules (weight sharing) gets the statistic of
 * its total per-sample gradient: the per-sample gradients of every use are
 * summed first, then `fromBatchGrad` is applied, so the result stays exact.
 */
export abstract class FirstOrderExtension extends RuleBasedExtension<FirstOrderRule> {
  private readonly viaPerSampleGradients: FirstOrderRule = (node, gradOutput, name) =>
    this.fromBatchGrad(perSampleGradient(node, gradOutput, name));

  /**
   * @param subsampling BackPACK's `subsampling` (BatchGrad's option): the
   * samples to compute for, each recorded call restricted to them
   * (`restrictToSamples`); undefined for the whole batch.
   */
  protected constructor(
    defaults: ModuleRules<FirstOrderRule> = [],
    readonly subsampling?: readonly number[],
    /** BatchGrad's `convSaveMemory`: a convolution weight's individual gradients a chunk of samples at a time (`sampleChunks`). */
    readonly convSaveMemory = false,
  ) {
    super(defaults);
  }

  /** The quantity from the per-sample gradients `[N, ...param]` (with the loss's reduction factor). */
  protected abstract fromBatchGrad(gradBatch: Tensor): Tensor;

  protected override fallbackRule(module: LeafModule): FirstOrderRule | undefined {
    return hasPerSampleJacobian(module) ? this.viaPerSampleGradients : undefined;
  }

  protected override fallbackRequirement(): string {
    return PER_SAMPLE_TRAIT;
  }

  /**
   * Refuses, before anything is modified, a loss with reduction `'none'`, a
   * module with parameters and no rule, a shared parameter of a module
   * without per-sample Jacobians, and any node whose module mixes samples
   * (BatchNorm in training mode):
   * per-sample gradients, and so every first-order quantity, are undefined
   * there, for the module's own parameters and for every parameter before it.
   */
  check(node: GraphNode, graph: RecordedGraph): void {
    if (node === graph.root && node.module instanceof LossModule) {
      node.module.requireReduced(this.name);
      checkSubsamplingFits(this.name, this.subsampling, node);
    }
    const mixing = node.module.sampleMixingMessage(node);
    if (mixing !== undefined) throw new Error(`${this.name} cannot run: ${mixing}`);
    const parameters = node.module.ownTrainableParameters();
    if (parameters.length === 0) return;
    this.requireRule(node.module);
    if (hasPerSampleJacobian(node.module)) return;
    for (const [name, parameter] of parameters) {
      const uses = graph.parameterUses.get(parameter) ?? 1;
      if (uses > 1) {
        throw new Error(
          `${this.name}: parameter '${name}' of ${node.module.describe()} is used by ${uses} modules (weight sharing), ` +
            `which needs the per-sample gradient of each use: declare ${PER_SAMPLE_TRAIT} on ${node.module.typeName}`,
        );
      }
    }
  }

  /** Whether the memory mode applies: a convolution's weight. */
  private inChunks(node: GraphNode, name: string): boolean {
    return this.convSaveMemory && name === 'weight' && (node.module instanceof ConvNd || node.module instanceof ConvTransposeNd);
  }

  /** The rule's per-sample result a chunk of samples at a time, joined along the batch. */
  private chunked(rule: FirstOrderRule, node: GraphNode, gradOutput: Tensor, name: string): Tensor {
    const parts = sampleChunks(node.batchSize, node.module.parameter(name).data.size).map((samples) =>
      tidy(() => rule(node.module.restrictToSamples(node, samples), selectIndices(gradOutput, 0, samples), name)),
    );
    return parts.length === 1 ? parts[0]! : concat(parts, 0);
  }

  begin(graph: RecordedGraph): ExtensionPass {
    const viaBatchGrad = new Set<Parameter>();
    return {
      visit: (node, gradOutput) => {
        const parameters = node.module.ownTrainableParameters();
        if (parameters.length === 0) return undefined;
        const rule = this.requireRule(node.module);
        const call = restrictCall(node, gradOutput, this.subsampling);
        const results = new Map<string, Quantity>();
        for (const [name, parameter] of parameters) {
          if (graph.parameterUses.get(parameter) === 1) {
            results.set(name, this.inChunks(call.node, name) ? this.chunked(rule, call.node, call.gradOutput, name) : rule(call.node, call.gradOutput, name));
          } else {
            viaBatchGrad.add(parameter);
            results.set(name, perSampleGradient(call.node, call.gradOutput, name));
          }
        }
        return results;
      },
      finalize: (parameter, contributions) => {
        const tensors = contributions as readonly Tensor[];
        if (!viaBatchGrad.has(parameter)) return tensors[0]!;
        return this.fromBatchGrad(tensors.reduce((total, g) => add(total, g)));
      },
    };
  }
}
