import { add, mul } from '../ops/elementwise.js';
import { zeros } from '../ops/create.js';
import { selectIndices } from '../ops/select.js';
import { currentCallFrame, enableGrad, isGradEnabled, type CallFrame } from '../tensor/autograd.js';
import { pushTangents } from '../tensor/forward-mode.js';
import { tidy } from '../tensor/scope.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchAveragedJacTMatJacProd } from './batch-averaged-product.js';
import { expectParametersMatch } from './input-checks.js';
import { Module } from './module.js';
import { naming } from './module-errors.js';

/**
 * What extensions may assume about a module class without a rule written for
 * it. Each extension's fallback rule reads these, so a module that declares
 * them works with every extension whose fallback they satisfy, with nothing
 * registered. An absent trait is false.
 */
export interface ModuleTraits {
  /**
   * `paramJacTMatProd(..., { sumBatch: false })` gives one product per sample.
   * The fallbacks of the first-order, GGN, Hessian-diagonal and Kronecker
   * extensions build their quantities from it.
   */
  readonly perSampleParameterJacobian?: boolean;
  /**
   * The output is affine in each parameter (`∇²_θ y = 0`), so a parameter's
   * Hessian diagonal needs no second derivative of the module: the
   * Hessian-diagonal extensions' fallback relies on it.
   */
  readonly affineInParameters?: boolean;
  /**
   * The Jacobian w.r.t. each input is diagonal per sample (elementwise, or a
   * relabelling that keeps the batch dimension), so `jacTMatProd` of diagonal
   * values `[1, N, ...out]` gives the diagonal values at the input: the
   * Hessian-diagonal extensions keep such factors compact through it.
   */
  readonly diagonalJacobian?: boolean;
  /**
   * The residual term of the Hessian (`Σ_k g_k ∇²y_k`, w.r.t. the input or a
   * parameter) is not diagonal, so only its products are known
   * (`residualHessianMatProd`, `paramResidualHessianMatProd`): recurrent
   * layers, whose residual couples the time steps. Extensions that need the
   * residual's eigenvalues (PCHMP) refuse such a module.
   */
  readonly nonDiagonalResidual?: boolean;
}

/** How {@link LeafModule.paramJacTMatProd} treats the batch. */
export interface ParameterJacobianOptions {
  /** Sum over the batch (`[V, ...param]`), or keep one product per sample (`[V, N, ...param]`). */
  readonly sumBatch: boolean;
}

/**
 * A module with known derivatives: the unit the backward engine and the
 * extensions work with (Linear, ReLU, a loss, ...). Containers are plain
 * `Module`s whose `forward` calls leaf modules. Each call that needs
 * gradients is recorded as one {@link GraphNode} (defined below: a leaf
 * module's derivatives take its recorded calls, and a recorded call holds its
 * module), however many ops the module runs.
 *
 * Subclasses implement `compute` (the forward math) and the derivatives.
 * Derivative methods take a matrix with a leading "vector" dimension V:
 * `mat` is `[V, N, ...outputShape]` and the result `[V, N, ...inputShape]`,
 * so that the gradient (V = 1), GGN square roots (V = classes) and
 * Monte-Carlo samples (V = samples) share one code path.
 */
export abstract class LeafModule extends Module {
  /** What extensions may assume about this module without a rule for its class (none by default). */
  readonly traits: ModuleTraits = {};

  /**
   * Checks the inputs, computes the output and, when recording and an input
   * or a parameter requires gradients, records the call as the output's
   * `gradFn`, one node. Subclasses implement `compute`, not this.
   *
   * `compute` runs with recording on, so the tensors it saves stay connected
   * to the inputs and parameters through their ops: derivatives computed from
   * them under `createGraph` can be differentiated again exactly. The
   * output's own op history is replaced by the module's node, whose
   * hand-written derivatives the backward pass uses.
   */
  override forward(...inputs: Tensor[]): Tensor {
    const saved: Record<string, Tensor> = {};
    let output: Tensor;
    try {
      this.checkInputs(inputs);
      expectParametersMatch(this, inputs);
      output = this.compute(inputs, saved);
    } catch (error) {
      throw naming(this, error);
    }
    if (isGradEnabled() && (inputs.some((x) => x.requiresGrad) || this.ownNamedParameters().some(([, p]) => p.requiresGrad))) {
      if (inputs.includes(output) || this.ownNamedParameters().some(([, p]) => p.data === output)) {
        // The node would become the input's own gradFn: a cycle.
        throw new Error(`${this.describe()}: compute() returned one of its inputs or parameters; return a new tensor (e.g. reshape(x, x.shape))`);
      }
      output.gradFn = new GraphNode(this, inputs, output, saved, currentCallFrame());
    }
    return output;
  }

  /**
   * Throws a clear error (naming the module and the shapes) if the inputs do
   * not fit. `forward` then checks that float inputs have the dtype, and all
   * inputs the backend, of the module's parameters.
   */
  protected abstract checkInputs(inputs: readonly Tensor[]): void;

  /**
   * The forward math. Tensors put into `saved` are kept on the graph node for
   * the derivatives. An error it throws reaches the caller prefixed with the
   * module (`Linear '0': matmul: ...`), the original as its `cause`.
   */
  protected abstract compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor;

  /** Indices of the inputs that gradients flow into (targets of a loss do not). */
  differentiableInputs(node: GraphNode): number[] {
    return node.inputs.map((_, i) => i);
  }

  /** Transposed Jacobian of the output w.r.t. input `inputIndex`, times `mat`: `[V, N, ...out] -> [V, N, ...in]`. */
  abstract jacTMatProd(node: GraphNode, mat: Tensor, inputIndex: number): Tensor;

  /**
   * Transposed Jacobian of the output w.r.t. the parameter `name`, times `mat`:
   * `[V, N, ...out] -> [V, ...param]` with `{ sumBatch: true }`, or
   * `[V, N, ...param]` per sample with `{ sumBatch: false }`.
   */
  paramJacTMatProd(_node: GraphNode, name: string, _mat: Tensor, _options: ParameterJacobianOptions): Tensor {
    throw new Error(`${this.describe()} has no parameter '${name}' to differentiate`);
  }

  /**
   * Jacobian of the output w.r.t. input `inputIndex` times `mat` (the
   * forward, R-op counterpart of {@link jacTMatProd}):
   * `[V, N, ...in] -> [V, N, ...out]`.
   *
   * This default is exact for every module whose `compute` is a
   * deterministic function of its inputs and parameters: it runs `compute`
   * again with recording on and pushes `mat` through the recorded ops'
   * `jvp` rules. Modules with structure override it with a direct product;
   * modules with randomness or state in `compute` (Dropout, BatchNorm) must.
   */
  jacMatProd(node: GraphNode, mat: Tensor, inputIndex: number): Tensor {
    return this.forwardThroughCompute(node, mat, (inputs) => {
      const x = inputs[inputIndex]!;
      // An input that requires no gradient records no ops: a leaf copy that does stands in for it.
      const seed = x.requiresGrad ? x : x.detach().requiresGrad_();
      return [inputs.map((input, i) => (i === inputIndex ? seed : input)), seed];
    });
  }

  /**
   * Jacobian of the output w.r.t. the parameter `name` times `mat`:
   * `[V, ...param] -> [V, N, ...out]`. The default runs `compute` again, as
   * {@link jacMatProd}'s, seeding the parameter's data.
   */
  paramJacMatProd(node: GraphNode, name: string, mat: Tensor): Tensor {
    const parameter = this.ownTrainableParameters().find(([local]) => local === name)?.[1];
    if (parameter === undefined) throw new Error(`${this.describe()} has no trainable parameter '${name}' to differentiate`);
    return this.forwardThroughCompute(node, mat, (inputs) => [inputs, parameter.data]);
  }

  /**
   * Runs `compute` again on the recorded inputs (as `choose` replaces them)
   * with recording on and pushes `mat`, the tangent of the chosen seed,
   * through the recorded ops to the output. The recorded inputs and the
   * parameters' data bound the walk, so the result stays connected to them
   * (differentiable again under recording) without walking their history.
   */
  private forwardThroughCompute(node: GraphNode, mat: Tensor, choose: (inputs: readonly Tensor[]) => [readonly Tensor[], Tensor]): Tensor {
    const run = () => {
      const [inputs, seed] = choose(node.inputs);
      if (mat.rank !== seed.rank + 1 || !shapesEqual(mat.shape.slice(1), seed.shape)) {
        throw new RangeError(`${this.describe()}: forward Jacobian product of a matrix of shape ${formatShape(mat.shape)}; expected [V, ${formatShape(seed.shape).slice(1)}`);
      }
      const output = enableGrad(() => this.compute(inputs, {}));
      if (output.gradFn === undefined) {
        throw new Error(`${this.describe()}: compute() ran without recording its ops, so the default forward Jacobian product cannot follow them; override jacMatProd and paramJacMatProd`);
      }
      const stops = new Set([...inputs, ...this.ownNamedParameters().map(([, p]) => p.data)]);
      const lead = [mat.shape[0]!];
      const [tangent] = pushTangents([output], new Map([[seed, mat]]), lead, { stops });
      return tangent ?? zeros([...lead, ...output.shape], { backend: mat.backend, dtype: mat.dtype });
    };
    // Without recording nothing else refers to the second forward's tensors: free them.
    return isGradEnabled() ? run() : tidy(run);
  }

  /**
   * The batch-averaged product `(1/N) Σ_n J_nᵀ M J_n` (KFRA's expectation
   * approximation), for a symmetric `mat` M of shape `[D_out, D_out]` over the
   * flattened per-sample output; returns `[D_in, D_in]` for input
   * `inputIndex` (J_n is the Jacobian w.r.t. that input).
   *
   * This default applies `jacTMatProd` twice and so works for every module,
   * at a cost of `N D_out D_in` memory; modules with structure override it
   * (single-input ones may ignore `inputIndex`).
   */
  eaJacTMatJacProd(node: GraphNode, mat: Tensor, inputIndex = 0): Tensor {
    return batchAveragedJacTMatJacProd((m) => this.jacTMatProd(node, m, inputIndex), node.output.shape, node.inputs[inputIndex]!.shape, mat);
  }

  /**
   * The message saying how this recorded call mixes the samples of the batch,
   * which makes its per-sample quantities undefined; `undefined` when each
   * sample's output depends on that sample alone (the default). Per-sample
   * quantities (individual gradients, per-sample curvature) need the latter;
   * BatchNorm in training mode (batch statistics) mixes samples. Extensions
   * computing per-sample quantities call this in `check`, so the pass is
   * refused before anything is modified; the message names the module.
   */
  sampleMixingMessage(_node: GraphNode): string | undefined {
    return undefined;
  }

  /**
   * The recorded call restricted to the samples `indices` of its batch (in
   * that order): what the call would have recorded on those samples alone,
   * for extensions that compute per-sample quantities of a subset
   * (BackPACK's `subsampling`). By default the inputs' rows are selected and
   * the forward math (`compute`) runs again on them, which suits modules
   * whose output depends only on their inputs and parameters; modules with
   * recorded randomness or mode-dependent state (Dropout, BatchNorm)
   * override it to reuse what they saved.
   */
  restrictToSamples(node: GraphNode, indices: readonly number[]): GraphNode {
    const inputs = node.inputs.map((x) => selectIndices(x, 0, indices));
    const saved: Record<string, Tensor> = {};
    return new GraphNode(this, inputs, this.compute(inputs, saved), saved);
  }

  /**
   * Diagonal of the residual term `Σ_k g_k ∇²y_k` of the Hessian w.r.t. the
   * input, per sample (`[N, ...in]`), where g is the gradient w.r.t. the
   * output y. `undefined` when the module is linear in its input (the
   * residual vanishes). Only modules whose residual is diagonal (elementwise
   * ones) may return a tensor.
   */
  residualHessianDiagonal(_node: GraphNode, _gradOutput: Tensor): Tensor | undefined {
    return undefined;
  }

  /**
   * The residual term `Σ_k g_k ∇²_x y_k` of the Hessian w.r.t. input
   * `inputIndex` times `mat`, per sample: `[V, N, ...in] -> [V, N, ...in]`
   * (g is the gradient w.r.t. the output y); `undefined` when it vanishes.
   * By default it is {@link residualHessianDiagonal} times `mat`; modules
   * whose residual is not diagonal (trait `nonDiagonalResidual`) override it.
   */
  residualHessianMatProd(node: GraphNode, gradOutput: Tensor, mat: Tensor, _inputIndex: number): Tensor | undefined {
    const diagonal = this.residualHessianDiagonal(node, gradOutput);
    return diagonal === undefined ? undefined : mul(mat, diagonal);
  }

  /**
   * The residual term `Σ_k g_k ∇²_θ y_k` of the Hessian w.r.t. the parameter
   * `name` times `mat`, summed over the batch: `[V, ...param] -> [V, ...param]`;
   * `undefined` when the output is affine in the parameter (the trait
   * `affineInParameters`, the default answer). Modules curved in a
   * parameter override it; others are refused here, naming the module.
   */
  paramResidualHessianMatProd(_node: GraphNode, _gradOutput: Tensor, name: string, _mat: Tensor): Tensor | undefined {
    if (this.traits.affineInParameters === true) return undefined;
    throw new Error(
      `${this.describe()} gives no second derivative w.r.t. its parameter '${name}': declare the trait affineInParameters if the output is affine in it, ` +
        'or override paramResidualHessianMatProd',
    );
  }
}

let nextNodeId = 0;

/**
 * One recorded application of a leaf module: what went in, what came out, and
 * whatever the module saved for its derivatives (e.g. a dropout mask). It is
 * its output's `gradFn` (and `tensor.producer`), one node of the graph the
 * backward engine walks, next to the nodes of ops; the edges it contributes
 * lead to its differentiable inputs and to its parameters' data.
 *
 * `M` is the module's class where it is known: a rule set with
 * `setModuleRule(Scale, rule)` gets `GraphNode<Scale>`, so it reads
 * `node.module.weight` without a cast.
 */
export class GraphNode<M extends LeafModule = LeafModule> {
  /** Tells a module's node from an op's `OpNode`. */
  readonly kind = 'module';
  /** Creation order; later nodes were recorded later. */
  readonly id = nextNodeId++;
  /**
   * The version of each of the module's own parameters (by local name) when
   * the call was recorded: the derivatives read the parameters' current
   * values, so `backward()` refuses if one was replaced since.
   */
  readonly parameterVersions: ReadonlyMap<string, number>;

  constructor(
    /** The module that was called. */
    readonly module: M,
    /** The call's inputs. */
    readonly inputs: readonly Tensor[],
    /** The call's output. */
    readonly output: Tensor,
    /** What `compute` saved for the derivatives, by name. */
    readonly saved: Readonly<Record<string, Tensor>>,
    /** The forward being executed when the call was recorded (the module's own frame), for messages. */
    readonly calledIn: CallFrame | undefined = undefined,
  ) {
    this.parameterVersions = new Map(module.ownNamedParameters().map(([name, parameter]) => [name, parameter.version]));
  }

  /** The first input (the module's main input), `[N, ...]`. */
  get input(): Tensor {
    return this.inputs[0]!;
  }

  /** Batch size: the leading dimension of the first input. */
  get batchSize(): number {
    return this.input.shape[0] ?? 1;
  }

  /** For forward mode (a module call's `ForwardRule`): the differentiable inputs and the trainable parameters' data. */
  forwardSources(): readonly Tensor[] {
    const inputs = this.module.differentiableInputs(this).map((i) => this.inputs[i]!);
    return [...inputs, ...this.module.ownTrainableParameters().map(([, parameter]) => parameter.data)];
  }

  /** For forward mode: the sum of the module's `jacMatProd` and `paramJacMatProd` over the sources with a tangent. */
  forwardTangent(tangentOf: (tensor: Tensor) => Tensor | undefined): Tensor | undefined {
    let total: Tensor | undefined;
    const accumulate = (term: Tensor) => (total = total === undefined ? term : add(total, term));
    for (const i of this.module.differentiableInputs(this)) {
      const tangent = tangentOf(this.inputs[i]!);
      if (tangent !== undefined) accumulate(this.module.jacMatProd(this, tangent, i));
    }
    for (const [name, parameter] of this.module.ownTrainableParameters()) {
      const tangent = tangentOf(parameter.data);
      if (tangent !== undefined) accumulate(this.module.paramJacMatProd(this, name, tangent));
    }
    return total;
  }

  /** The module, for messages. */
  describe(): string {
    return this.module.describe();
  }
}

// The tensor layer names no module type: what a recorded module call holds
// (`tensor.producer`) is declared here, where GraphNode is.
declare module '../tensor/tensor.js' {
  interface ModuleCall extends GraphNode {}
}
