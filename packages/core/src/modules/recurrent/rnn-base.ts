/**
 * `RNNBase`: what RNN and LSTM share (PyTorch's `nn.RNNBase`): options,
 * parameters under PyTorch's names, stacked layers, batch-first or
 * time-major layout, the final states of a call, and the derivatives by
 * backpropagation through time. The cell (see `cell.ts`) is the subclass's.
 */
import type { Backend, FloatDType } from '../../backend/backend.js';
import { zeros } from '../../ops/create.js';
import { defaultGenerator } from '../../ops/default-generator.js';
import { add, mul, square } from '../../ops/elementwise.js';
import { einsum } from '../../ops/einsum.js';
import { concat, permute, reshape } from '../../ops/layout.js';
import { matmul } from '../../ops/matmul.js';
import type { Generator } from '../../ops/random.js';
import { sum } from '../../ops/reduce.js';
import { isGradEnabled } from '../../tensor/autograd.js';
import { tidy } from '../../tensor/scope.js';
import { formatShape, shapesEqual } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { expectFloatInput, expectInputCount } from '../input-checks.js';
import { rejectUnknownOptions } from '../../ops/options.js';
import { LeafModule, type GraphNode, type ModuleTraits, type ParameterJacobianOptions } from '../leaf-module.js';
import type { Parameter } from '../parameter.js';
import type { CellDerivatives, CellStep } from './cell.js';
import { previousSteps, stackSteps, swapBatchAndTime, timeStep } from './sequence.js';

/** Options of {@link RNN} and {@link LSTM}, as PyTorch's arguments. */
export interface RecurrentOptions {
  /** Stacked layers (default 1); layer l > 0 reads the hidden states of layer l - 1. */
  readonly numLayers?: number;
  /** Learnable biases `bias_ih_l{k}` and `bias_hh_l{k}` (default true). */
  readonly bias?: boolean;
  /** Input and output `[N, T, features]` (true), or time-major `[T, N, features]` (false, the default, as PyTorch). */
  readonly batchFirst?: boolean;
  /** Backend of the parameters (default: the default backend). */
  readonly backend?: Backend;
  /** Dtype of the parameters (default float64 where the backend has it, else float32). */
  readonly dtype?: FloatDType;
  /** Generator for the initial values (default: the default generator). */
  readonly generator?: Generator;
}

/** The final states of one call (PyTorch's second output). */
export interface RecurrentState {
  /** h_n: every layer's hidden state after the last step, `[numLayers, N, H]` (as PyTorch, in either layout). */
  readonly h: Tensor;
  /** c_n, LSTM only: every layer's cell state after the last step, `[numLayers, N, H]`. */
  readonly c?: Tensor;
}

/** Directions for {@link RNNBase.residualHessianProduct}; an absent entry is zero. */
export interface RecurrentDirections {
  /** `[V, ...input]`: V directions of the input, one per sample (in the input's layout). */
  readonly input?: Tensor;
  /** By parameter name, `[V, ...param]`: V directions of the parameter, the same for every sample. */
  readonly parameters?: ReadonlyMap<string, Tensor>;
}

/** What {@link RNNBase.residualHessianProduct} returns. */
export interface RecurrentHessianProducts {
  /** `[V, ...input]`: the input block of each sample's product. */
  readonly input: Tensor;
  /** By parameter name (those asked for), `[V, N, ...param]`: each sample's parameter block. */
  readonly parameters: ReadonlyMap<string, Tensor>;
}

/** The four parameters of one layer (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`). */
type ParameterKind = 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh';

/**
 * ∂/∂z of the layers (`[V, N, T, G·H]`, by layer) for one `mat` at the
 * output of one recorded call, filled from the last layer down as asked.
 */
interface AdjointsOfMat {
  readonly node: GraphNode;
  /** The grad mode and the weights they were computed with: a change of either makes them stale. */
  readonly gradEnabled: boolean;
  readonly weights: readonly Tensor[];
  readonly zBars: (Tensor | undefined)[];
  /** Per layer, the Gram matrices of the adjoints over time, `[N, G·H, T, T]` (see {@link RNNBase.paramJacTMatProdSquares}). */
  readonly grams: (Tensor | undefined)[];
}

interface LayerParameters {
  readonly weightIh: Parameter;
  readonly weightHh: Parameter;
  readonly biasIh: Parameter | undefined;
  readonly biasHh: Parameter | undefined;
}

/** One layer's forward tangent, step by step: δz_t `[V, N, G·H]`, δs_t, and δh `[V, N, T, H]`. */
interface LayerTangent {
  readonly z: readonly Tensor[];
  readonly state: readonly (Tensor | undefined)[];
  readonly h: Tensor;
}

/** What second-order backpropagation through a layer needs besides the primal adjoint. */
interface LayerTangentAdjoint {
  /** The tangent of ∂/∂(layer output), `[V, N, T, H]`. */
  readonly outputBar: Tensor;
  /** The layer's forward tangent; undefined where it is zero. */
  readonly forward: LayerTangent | undefined;
  /** The direction of `weight_hh`, `[V, G·H, H]`; undefined where it is zero. */
  readonly weightHh: Tensor | undefined;
}

/** The option names of {@link RecurrentOptions}, for {@link rejectUnknownOptions}. */
export const RECURRENT_OPTIONS: readonly string[] = ['numLayers', 'bias', 'batchFirst', 'backend', 'dtype', 'generator'];

/** Outputs of recurrent modules, which {@link ReduceTuple} accepts. */
const recurrentOutputs = new WeakSet<Tensor>();

/** Whether `tensor` is the output of a call of an RNN or LSTM. */
export function isRecurrentOutput(tensor: Tensor): boolean {
  return recurrentOutputs.has(tensor);
}

function addDefined(a: Tensor | undefined, b: Tensor | undefined): Tensor | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : add(a, b);
}

function checkPositiveInteger(owner: string, what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${owner}: ${what} must be a positive integer, got ${value}`);
}

/**
 * The base of the recurrent layers. Each layer computes, per time step,
 * `z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh` and its cell turns `z_t`
 * into the hidden state `h_t`; the initial states are zero. The output is
 * the last layer's `h_t` for every step; the final states are read with
 * {@link finalState}.
 *
 * Derivatives follow the module's layout: `mat` is `[V, ...output]`
 * (`[V, N, T, H]` batch-first, `[V, T, N, H]` time-major) and
 * `jacTMatProd` returns `[V, ...input]`; per-sample parameter products
 * (`sumBatch: false`) are `[V, N, ...param]` in either layout. Every
 * derivative is backpropagation through time for all V columns at once;
 * a weight's products sum over the time steps (it is shared by them).
 */
export abstract class RNNBase extends LeafModule {
  /** Per-sample parameter Jacobians (first-order and GGN extensions). Not affine in its parameters, not diagonal. */
  override readonly traits: ModuleTraits = { perSampleParameterJacobian: true, nonDiagonalResidual: true };
  /** Stacked layers; layer l > 0 reads the hidden states of layer l - 1. */
  readonly numLayers: number;
  /** Whether the layers have the biases `bias_ih_l{k}` and `bias_hh_l{k}`. */
  readonly bias: boolean;
  /** Input and output `[N, T, features]` (true) or `[T, N, features]` (false). */
  readonly batchFirst: boolean;

  private readonly layers: readonly LayerParameters[];
  private readonly kinds = new Map<string, { readonly layer: number; readonly kind: ParameterKind }>();
  private readonly finalStates = new WeakMap<Tensor, RecurrentState>();
  /**
   * The adjoints through time of the latest `mat`s: extensions ask for the
   * input's product and every parameter's with the same `mat`, and
   * backpropagation through time is what they share and what costs.
   */
  private readonly adjointsByMat = new WeakMap<Tensor, AdjointsOfMat>();
  /** The final states of the call in progress, between `compute` and `forward`. */
  private pendingState: RecurrentState | undefined;

  /**
   * `gates` (G) blocks of `hiddenSize` rows per weight (1 for RNN, 4 for
   * LSTM). Every parameter starts uniform in ±1/sqrt(hiddenSize), as PyTorch.
   */
  protected constructor(
    /** Features per time step of the input. */
    readonly inputSize: number,
    /** H: features of the hidden state (the output's last dimension). */
    readonly hiddenSize: number,
    /** G: gate blocks of H rows per weight (1 for RNN, 4 for LSTM). */
    readonly gates: number,
    options: RecurrentOptions,
  ) {
    super();
    const owner = this.constructor.name;
    this.numLayers = options.numLayers ?? 1;
    checkPositiveInteger(owner, 'inputSize', inputSize);
    checkPositiveInteger(owner, 'hiddenSize', hiddenSize);
    checkPositiveInteger(owner, 'numLayers', this.numLayers);
    this.bias = options.bias ?? true;
    this.batchFirst = options.batchFirst ?? false;
    const generator = options.generator ?? defaultGenerator;
    const bound = 1 / Math.sqrt(hiddenSize);
    const create = { low: -bound, high: bound, backend: options.backend, dtype: options.dtype };
    const rows = gates * hiddenSize;
    const layers: LayerParameters[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const register = (kind: ParameterKind, shape: number[]) => {
        const name = `${kind}_l${l}`;
        this.kinds.set(name, { layer: l, kind });
        return this.registerParameter(name, generator.uniform(shape, create));
      };
      const weightIh = register('weight_ih', [rows, l === 0 ? inputSize : hiddenSize]);
      const weightHh = register('weight_hh', [rows, hiddenSize]);
      const biasIh = this.bias ? register('bias_ih', [rows]) : undefined;
      const biasHh = this.bias ? register('bias_hh', [rows]) : undefined;
      layers.push({ weightIh, weightHh, biasIh, biasHh });
    }
    this.layers = layers;
  }

  /** One forward step of the cell: `z_t` `[N, G·H]` and `s_{t-1}` (undefined at t = 0: zero) to `h_t`, `s_t`. */
  protected abstract cellStep(z: Tensor, statePrev: Tensor | undefined): CellStep;

  /** The cell's derivatives for layer `layer` of the recorded call (its saved tensors: {@link recorded}). */
  protected abstract cellDerivatives(node: GraphNode, layer: number): CellDerivatives;

  /**
   * The final states of the call that returned `output` (PyTorch's
   * `h_n`, and `c_n` for LSTM). They are values only: extensions
   * differentiate the output. They are created with the output, so inside
   * `tidy` keep them as the output is kept.
   */
  finalState(output: Tensor): RecurrentState {
    const state = this.finalStates.get(output);
    if (state === undefined) {
      throw new Error(`${this.describe()}.finalState: the tensor of shape ${formatShape(output.shape)} is not an output of this module`);
    }
    return state;
  }

  /**
   * Runs the layers on one input, `[N, T, inputSize]` (batch-first) or
   * `[T, N, inputSize]`, from zero states, and returns every step's
   * last-layer hidden state (PyTorch's `output`).
   */
  override forward(...inputs: Tensor[]): Tensor {
    const output = super.forward(...inputs);
    this.finalStates.set(output, this.pendingState!);
    this.pendingState = undefined;
    recurrentOutputs.add(output);
    return output;
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    expectInputCount(this, inputs, 1);
    const x = inputs[0]!;
    expectFloatInput(this, x, 3);
    const layout = this.batchFirst ? '[N, T, inputSize] (batchFirst)' : '[T, N, inputSize] (time-major)';
    if (x.rank !== 3 || x.shape[2] !== this.inputSize) {
      throw new RangeError(`${this.describe()}: expects an input ${layout} with inputSize ${this.inputSize}, got ${formatShape(x.shape)}`);
    }
    if (x.shape[this.batchFirst ? 1 : 0] === 0) throw new RangeError(`${this.describe()}: the input ${formatShape(x.shape)} has no time step`);
  }

  protected compute(inputs: readonly Tensor[], saved: Record<string, Tensor>): Tensor {
    let sequence = this.batchFirstLayout(inputs[0]!, 0);
    saved['input_l0'] = sequence;
    const finalH: Tensor[] = [];
    const finalCell: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const last = this.layerForward(l, sequence, saved);
      sequence = saved[`h_l${l}`]!;
      finalH.push(last.h);
      if (last.state !== undefined) finalCell.push(last.state);
    }
    const stackLayers = (states: readonly Tensor[]) => concat(states.map((s) => reshape(s, [1, ...s.shape])), 0);
    this.pendingState = { h: stackLayers(finalH), ...(finalCell.length > 0 && { c: stackLayers(finalCell) }) };
    return this.batchFirstLayout(sequence, 0);
  }

  /** Runs layer `l` on `[N, T, in]`, saves its states (`h_l{l}`, the cell's as `{name}_l{l}`) and returns the last step's. */
  private layerForward(l: number, x: Tensor, saved: Record<string, Tensor>): { h: Tensor; state: Tensor | undefined } {
    const { weightIh, weightHh, biasIh, biasHh } = this.layers[l]!;
    let projected = matmul(x, weightIh.data, false, true);
    if (biasIh !== undefined && biasHh !== undefined) projected = add(projected, add(biasIh.data, biasHh.data));
    let h: Tensor | undefined;
    let state: Tensor | undefined;
    const hs: Tensor[] = [];
    const kept = new Map<string, Tensor[]>();
    for (let t = 0; t < x.shape[1]!; t++) {
      const z = timeStep(projected, t);
      const step = this.cellStep(h === undefined ? z : add(z, matmul(h, weightHh.data, false, true)), state);
      h = step.h;
      state = step.state;
      hs.push(h);
      for (const [name, value] of Object.entries(step.saved ?? {})) kept.set(name, [...(kept.get(name) ?? []), value]);
    }
    saved[`h_l${l}`] = stackSteps(hs);
    for (const [name, values] of kept) saved[`${name}_l${l}`] = stackSteps(values);
    return { h: h!, state };
  }

  /** The recorded sequence `name` of layer `layer` (`'h'`, or what the cell saved), batch-first `[N, T, k]`. */
  protected recorded(node: GraphNode, name: string, layer: number): Tensor {
    const value = node.saved[`${name}_l${layer}`];
    if (value === undefined) throw new Error(`${this.describe()}: the recorded call has no '${name}' for layer ${layer}`);
    return value;
  }

  /** Layer `layer`'s input, batch-first `[N, T, in]`. */
  private layerInput(node: GraphNode, layer: number): Tensor {
    return layer === 0 ? this.recorded(node, 'input', 0) : this.recorded(node, 'h', layer - 1);
  }

  /** Between the module's layout and batch-first, for a tensor with `leading` dimensions before batch and time (the swap is its own inverse). */
  private batchFirstLayout(x: Tensor, leading: number): Tensor {
    return this.batchFirst ? x : swapBatchAndTime(x, leading);
  }

  jacTMatProd(node: GraphNode, mat: Tensor): Tensor {
    return this.batchFirstLayout(matmul(this.layerAdjoint(node, mat, 0), this.layers[0]!.weightIh.data), 1);
  }

  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    const which = this.kinds.get(name);
    if (which === undefined) return super.paramJacTMatProd(node, name, mat, options);
    const zBar = this.layerAdjoint(node, mat, which.layer);
    const subscripts = options.sumBatch ? 'vntg,ntk->vgk' : 'vntg,ntk->vngk';
    switch (which.kind) {
      case 'weight_ih':
        return einsum(subscripts, zBar, this.layerInput(node, which.layer));
      case 'weight_hh':
        return einsum(subscripts, zBar, previousSteps(this.recorded(node, 'h', which.layer)));
      default:
        return sum(zBar, options.sumBatch ? [1, 2] : [2]);
    }
  }

  /**
   * The squares of the per-sample products `paramJacTMatProd(node, name,
   * mat, { sumBatch: false })` summed over the V columns: `[N, ...param]`,
   * or also over the batch with `sumBatch` (`[...param]`); the diagonal
   * GGN extensions' reduction. For a weight with input a_t at step t the
   * product is `Σ_t z̄_t a_tᵀ` per column and sample, and its squares
   * summed over the columns are `Σ_{t,s} M_ts a_t a_s` (elementwise) with
   * the Gram matrix over time `M_ts = Σ_v z̄_t z̄_s`, which the layer's
   * weights share: the `[V, N, ...param]` products are never built.
   */
  paramJacTMatProdSquares(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    const which = this.kinds.get(name);
    if (which === undefined) return sum(square(this.paramJacTMatProd(node, name, mat, { sumBatch: false })), options.sumBatch ? [0, 1] : 0);
    const perSample = (() => {
      if (which.kind === 'bias_ih' || which.kind === 'bias_hh') return sum(square(sum(this.layerAdjoint(node, mat, which.layer), [2])), 0);
      const input = which.kind === 'weight_ih' ? this.layerInput(node, which.layer) : previousSteps(this.recorded(node, 'h', which.layer));
      const [n, steps, k] = input.shape as [number, number, number];
      const gram = this.adjointGram(node, mat, which.layer);
      const rows = gram.shape[1]!;
      // Σ_s M[n, g, t, s] a[n, s, k], then times a[n, t, k] summed over t.
      const gramTimesInput = reshape(matmul(reshape(gram, [n, rows * steps, steps]), input), [n, rows, steps, k]);
      return sum(mul(gramTimesInput, reshape(input, [n, 1, steps, k])), [2]);
    })();
    return options.sumBatch ? sum(perSample, 0) : perSample;
  }

  /**
   * ∂/∂z of layer `layer`, `[V, N, T, G·H]`, for `mat` (`[V, ...output]`)
   * at the output: backpropagation through time from the last layer down,
   * each layer's result kept for the next call with the same `mat` and
   * `node` (recomputed if disposed since, e.g. by `tidy`).
   */
  private layerAdjoint(node: GraphNode, mat: Tensor, layer: number): Tensor {
    const entry = this.adjointsOf(node, mat);
    const kept = entry.zBars[layer];
    if (kept !== undefined && !kept.isDisposed) return kept;
    const outputBar =
      layer === this.numLayers - 1
        ? this.batchFirstLayout(mat, 1)
        : matmul(this.layerAdjoint(node, mat, layer + 1), this.layers[layer + 1]!.weightIh.data);
    const zBar = this.backpropLayer(node, layer, outputBar).zBar;
    entry.zBars[layer] = zBar;
    return zBar;
  }

  /**
   * `M[n, g, t, s] = Σ_v z̄[v, n, t, g] z̄[v, n, s, g]`, `[N, G·H, T, T]`,
   * from layer `layer`'s adjoint for `mat`; kept as the adjoint is.
   */
  private adjointGram(node: GraphNode, mat: Tensor, layer: number): Tensor {
    const entry = this.adjointsOf(node, mat);
    const kept = entry.grams[layer];
    if (kept !== undefined && !kept.isDisposed) return kept;
    const byGate = permute(this.layerAdjoint(node, mat, layer), [1, 3, 2, 0]); // [N, G·H, T, V]
    const gram = matmul(byGate, byGate, false, true);
    entry.grams[layer] = gram;
    return gram;
  }

  /** What is kept for `mat` at the output of the recorded call `node`: new if there is none or it is stale. */
  private adjointsOf(node: GraphNode, mat: Tensor): AdjointsOfMat {
    const gradEnabled = isGradEnabled();
    const weights = this.layers.flatMap(({ weightIh, weightHh }) => [weightIh.data, weightHh.data]);
    const entry = this.adjointsByMat.get(mat);
    if (entry !== undefined && entry.node === node && entry.gradEnabled === gradEnabled && entry.weights.every((w, i) => w === weights[i])) return entry;
    const fresh: AdjointsOfMat = { node, gradEnabled, weights, zBars: [], grams: [] };
    this.adjointsByMat.set(mat, fresh);
    return fresh;
  }

  /**
   * Backpropagation through time in layer `l`: from ∂/∂(its outputs)
   * `[V, N, T, H]` to ∂/∂z `[V, N, T, G·H]`. With `tangent`, also the
   * tangent of that adjoint (second order; the primal `outputBar` then has V = 1).
   */
  private backpropLayer(node: GraphNode, l: number, outputBar: Tensor, tangent?: LayerTangentAdjoint): { zBar: Tensor; zBarTangent: Tensor | undefined } {
    // Without recording nothing else refers to the intermediates of a step (or to the steps once stacked): free them as the walk goes.
    const freeing = <T>(fn: () => T): T => (isGradEnabled() ? fn() : tidy(fn));
    return freeing(() => {
      const cell = this.cellDerivatives(node, l);
      const weightHh = this.layers[l]!.weightHh.data;
      const steps = outputBar.shape[outputBar.rank - 2]!;
      const zBars = new Array<Tensor>(steps);
      const tangents = new Array<Tensor>(steps);
      let zNext: Tensor | undefined;
      let stateBar: Tensor | undefined;
      let zNextTangent: Tensor | undefined;
      let stateBarTangent: Tensor | undefined;
      for (let t = steps - 1; t >= 0; t--) {
        const step = freeing(() => {
          // h_t feeds the output and, through W_hh, the next step's z.
          const hBar = addDefined(timeStep(outputBar, t), zNext === undefined ? undefined : matmul(zNext, weightHh))!;
          const primal = cell.adjoint(t, hBar, stateBar);
          if (tangent === undefined) return { primal, zBarTangent: undefined, stateBarTangent: undefined };
          let hBarTangent = addDefined(timeStep(tangent.outputBar, t), zNextTangent === undefined ? undefined : matmul(zNextTangent, weightHh))!;
          if (zNext !== undefined && tangent.weightHh !== undefined) hBarTangent = add(hBarTangent, matmul(zNext, tangent.weightHh));
          const linear = cell.adjoint(t, hBarTangent, stateBarTangent);
          const forward = tangent.forward;
          const curvature = forward === undefined ? undefined : cell.adjointCurvature(t, hBar, stateBar, forward.z[t]!, forward.state[t - 1]);
          return { primal, zBarTangent: addDefined(linear.zBar, curvature?.zBar)!, stateBarTangent: addDefined(linear.stateBar, curvature?.stateBar) };
        });
        if (tangent !== undefined) {
          zNextTangent = step.zBarTangent;
          stateBarTangent = step.stateBarTangent;
          tangents[t] = zNextTangent!;
        }
        zNext = step.primal.zBar;
        stateBar = step.primal.stateBar;
        zBars[t] = zNext;
      }
      return { zBar: stackSteps(zBars), zBarTangent: tangent === undefined ? undefined : stackSteps(tangents) };
    });
  }

  /**
   * Forward tangent of layer `l` from the tangent of its input (`[V, N, T, in]`)
   * and directions of its parameters (`[V, ...param]`); undefined where all are zero.
   */
  private layerTangent(node: GraphNode, l: number, inputTangent: Tensor | undefined, directions: ReadonlyMap<string, Tensor>, v: number): LayerTangent | undefined {
    const { weightIh, weightHh } = this.layers[l]!;
    const direction = (kind: ParameterKind) => directions.get(`${kind}_l${l}`);
    const x = this.layerInput(node, l);
    const terms: Tensor[] = [];
    if (inputTangent !== undefined) terms.push(matmul(inputTangent, weightIh.data, false, true));
    const [dWeightIh, dWeightHh, dBiasIh, dBiasHh] = (['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'] as const).map(direction);
    if (dWeightIh !== undefined) terms.push(einsum('nti,vgi->vntg', x, dWeightIh));
    if (dWeightHh !== undefined) terms.push(einsum('ntk,vgk->vntg', previousSteps(this.recorded(node, 'h', l)), dWeightHh));
    for (const dBias of [dBiasIh, dBiasHh]) if (dBias !== undefined) terms.push(reshape(dBias, [v, 1, 1, dBias.shape[1]!]));
    if (terms.length === 0) return undefined;
    const [n, steps] = [x.shape[0]!, x.shape[1]!];
    const rows = this.gates * this.hiddenSize;
    // The terms that do not go through the recurrence, for every step at once.
    const driven = terms.reduce((total, term) => add(total, term), zeros([v, n, steps, rows], { backend: x.backend, dtype: x.dtype }));
    const cell = this.cellDerivatives(node, l);
    const z: Tensor[] = [];
    const state: (Tensor | undefined)[] = [];
    const hs: Tensor[] = [];
    for (let t = 0; t < steps; t++) {
      const hPrev = hs[t - 1];
      z.push(hPrev === undefined ? timeStep(driven, t) : add(timeStep(driven, t), matmul(hPrev, weightHh.data, false, true)));
      const step = cell.tangent(t, z[t]!, state[t - 1]);
      hs.push(step.h);
      state.push(step.state);
    }
    return { z, state, h: stackSteps(hs) };
  }

  /**
   * Products with the Hessian of `Σ gradOutput ⊙ output` (gradOutput held
   * fixed), sample by sample, w.r.t. the input and the parameters jointly:
   * for V directions (`directions`, absent parts zero) it returns the input
   * block of each product (`[V, ...input]`) and the blocks of the parameters
   * named in `parameterNames` (default: all), `[V, N, ...param]` per sample.
   * With gradOutput the loss's gradient w.r.t. the output, this is the
   * residual term `Σ_k g_k ∇²y_k` of the loss Hessian (what DiagHessian
   * needs besides the backpropagated square roots), which for a recurrent
   * layer couples the time steps and is not diagonal.
   *
   * Forward-over-reverse: the directions are pushed forward through the
   * layers (tangents), then the adjoint and its tangent are backpropagated
   * through time together. Costs about V times a backward pass; memory
   * `V·N·T·G·H` per layer.
   */
  residualHessianProduct(
    node: GraphNode,
    gradOutput: Tensor,
    directions: RecurrentDirections,
    parameterNames: readonly string[] = [...this.kinds.keys()],
  ): RecurrentHessianProducts {
    const parameters = directions.parameters ?? new Map<string, Tensor>();
    const v = this.checkDirections(node, gradOutput, directions.input, parameters, parameterNames);
    const forward: (LayerTangent | undefined)[] = [];
    const inputTangents: (Tensor | undefined)[] = [];
    let inputTangent = directions.input === undefined ? undefined : this.batchFirstLayout(directions.input, 1);
    for (let l = 0; l < this.numLayers; l++) {
      inputTangents.push(inputTangent);
      forward.push(this.layerTangent(node, l, inputTangent, parameters, v));
      inputTangent = forward[l]?.h;
    }
    const g = this.batchFirstLayout(gradOutput, 0);
    let outputBar = reshape(g, [1, ...g.shape]);
    let outputBarTangent = zeros([v, ...g.shape], { backend: g.backend, dtype: g.dtype });
    const products = new Map<string, Tensor>();
    for (let l = this.numLayers - 1; l >= 0; l--) {
      const dWeightHh = parameters.get(`weight_hh_l${l}`);
      const { zBar, zBarTangent } = this.backpropLayer(node, l, outputBar, { outputBar: outputBarTangent, forward: forward[l], weightHh: dWeightHh });
      const zBarPrimal = reshape(zBar, zBar.shape.slice(1));
      const x = this.layerInput(node, l);
      const hPrev = previousSteps(this.recorded(node, 'h', l));
      const xTangent = inputTangents[l];
      const hTangent = forward[l]?.h;
      for (const name of parameterNames) {
        const which = this.kinds.get(name)!;
        if (which.layer !== l) continue;
        // δ(Σ_t z̄_t ⊗ a_t) = Σ_t δz̄_t ⊗ a_t + z̄_t ⊗ δa_t, per sample.
        const outer = (a: Tensor, aTangent: Tensor | undefined) =>
          addDefined(einsum('vntg,ntk->vngk', zBarTangent!, a), aTangent === undefined ? undefined : einsum('ntg,vntk->vngk', zBarPrimal, aTangent))!;
        products.set(
          name,
          which.kind === 'weight_ih'
            ? outer(x, xTangent)
            : which.kind === 'weight_hh'
              ? outer(hPrev, hTangent === undefined ? undefined : previousSteps(hTangent))
              : sum(zBarTangent!, [2]),
        );
      }
      const weightIh = this.layers[l]!.weightIh.data;
      const dWeightIh = parameters.get(`weight_ih_l${l}`);
      outputBar = matmul(zBar, weightIh);
      outputBarTangent = addDefined(matmul(zBarTangent!, weightIh), dWeightIh === undefined ? undefined : einsum('ntg,vgi->vnti', zBarPrimal, dWeightIh))!;
    }
    return { input: this.batchFirstLayout(outputBarTangent, 1), parameters: products };
  }

  /** Checks the arguments of {@link residualHessianProduct} and returns V. */
  private checkDirections(
    node: GraphNode,
    gradOutput: Tensor,
    input: Tensor | undefined,
    parameters: ReadonlyMap<string, Tensor>,
    parameterNames: readonly string[],
  ): number {
    const where = `${this.describe()}.residualHessianProduct`;
    if (!shapesEqual(gradOutput.shape, node.output.shape)) {
      throw new RangeError(`${where}: gradOutput ${formatShape(gradOutput.shape)} must have the output's shape ${formatShape(node.output.shape)}`);
    }
    const expected: [string, Tensor, readonly number[]][] = [];
    if (input !== undefined) expected.push(['the input direction', input, node.input.shape]);
    for (const [name, direction] of parameters) expected.push([`the direction of '${name}'`, direction, this.parameter(name).data.shape]);
    for (const name of parameterNames) this.parameter(name);
    if (expected.length === 0) throw new RangeError(`${where}: give at least one direction (input or parameters)`);
    const v = expected[0]![1].shape[0]!;
    for (const [what, direction, shape] of expected) {
      if (!shapesEqual(direction.shape, [v, ...shape])) {
        throw new RangeError(`${where}: ${what} has shape ${formatShape(direction.shape)}, expected [${[v, ...shape].join(', ')}] (V = ${v} directions first)`);
      }
    }
    return v;
  }

  /**
   * The call on some samples only (subsampling), recomputed from them, batch-first only:
   * extensions select the samples of the output gradient in dimension 0.
   */
  override restrictToSamples(node: GraphNode, indices: readonly number[]): GraphNode {
    if (!this.batchFirst) {
      throw new RangeError(`${this.describe()}: subsampling needs the batch in dimension 0; this module is time-major (batchFirst: false)`);
    }
    const restricted = super.restrictToSamples(node, indices);
    // The recomputation is no call of forward: it has no final states to keep.
    this.pendingState = undefined;
    return restricted;
  }

  /** The generic default reads the batch from dimension 0: batch-first layout only. */
  override eaJacTMatJacProd(node: GraphNode, mat: Tensor, inputIndex = 0): Tensor {
    if (!this.batchFirst) {
      throw new RangeError(`${this.describe()}: eaJacTMatJacProd needs the batch in dimension 0; this module is time-major (batchFirst: false)`);
    }
    return super.eaJacTMatJacProd(node, mat, inputIndex);
  }

  /** The input block of {@link residualHessianProduct}. */
  override residualHessianMatProd(node: GraphNode, gradOutput: Tensor, mat: Tensor): Tensor {
    return this.residualHessianProduct(node, gradOutput, { input: mat }, []).input;
  }

  /** The block of parameter `name` of {@link residualHessianProduct}, summed over the batch. */
  override paramResidualHessianMatProd(node: GraphNode, gradOutput: Tensor, name: string, mat: Tensor): Tensor {
    return sum(this.residualHessianProduct(node, gradOutput, { parameters: new Map([[name, mat]]) }, [name]).parameters.get(name)!, [1]);
  }

  /** Refuses: the residual of a recurrent layer couples time steps, so it is not diagonal; see {@link residualHessianProduct}. */
  override residualHessianDiagonal(): Tensor | undefined {
    throw new Error(
      `${this.describe()}: the residual term of the Hessian w.r.t. a recurrent layer's input couples the time steps and is not diagonal; use residualHessianProduct`,
    );
  }
}
