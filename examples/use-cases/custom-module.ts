/**
 * A module of your own (BackPACK's `use_cases/example_custom_module.py`):
 * `Scale`, `y = w · x` with one learned scalar `w`, after a linear layer on
 * MNIST. It declares no traits, so each extension that meets it needs a rule
 * for it, set on that extension instance with `setModuleRule`:
 *
 * - BatchGrad: the per-sample gradient of `w`, `Σ_d g_nd x_nd` (g the
 *   gradient w.r.t. the module's output, x its input);
 * - DiagGGNExact: how the loss Hessian's square root S passes through the
 *   module to its input (`S · w`) and the parameter's `P = J_wᵀ S`
 *   (`Σ_d S_vnd x_nd`), whose squares, summed, are the GGN diagonal.
 *
 * The example checks both, as BackPACK's does: the per-sample gradients
 * against autograd one sample at a time, and the GGN diagonal of `w` against
 * `Σ_n z_nᵀ H_n z_n`, written out (the Jacobian of the logits `w z` w.r.t.
 * `w` is z, the linear layer's output, and H_n the cross-entropy's Hessian).
 *
 *   pnpm example custom-module [--batch-size 10] [--backend cpu]
 */
import {
  CrossEntropyLoss,
  Flatten,
  LeafModule,
  Linear,
  Sequential,
  backpack,
  formatShape,
  extend,
  grad,
  mul,
  noGrad,
  reshape,
  slice,
  softmax,
  sum,
  tensor,
  type Backend,
  type FloatDType,
  type GraphNode,
  type Parameter,
  type ParameterJacobianOptions,
  type RuleForModule,
  type Tensor,
} from '@backpack-ts/core';
import { DiagGGNExact, type GgnRule } from '@backpack-ts/diag-ggn';
import { BatchGrad, type FirstOrderRule } from '@backpack-ts/first-order';
import { agree, exampleDType, mnistBatch, parseArgs, runIfMain } from '../shared/report.js';

/** `y = w · x` for a learned scalar `w` (shape `[1]`), on inputs `[N, ...]`. */
export class Scale extends LeafModule {
  readonly typeName = 'Scale';
  /** The scalar factor, `[1]`. */
  readonly weight: Parameter;

  constructor(weight = 2.0, options: { backend?: Backend; dtype?: FloatDType } = {}) {
    super();
    this.weight = this.registerParameter('weight', tensor([weight], [1], options));
  }

  protected checkInputs(inputs: readonly Tensor[]): void {
    if (inputs.length !== 1 || inputs[0]!.rank < 2) {
      throw new RangeError(`${this.describe()}: expects one input [N, ...], got ${inputs.length} inputs`);
    }
  }

  protected compute(inputs: readonly Tensor[]): Tensor {
    return mul(inputs[0]!, this.weight.data);
  }

  /** `∂y/∂x = w I`: `[V, N, ...] -> [V, N, ...]`. */
  jacTMatProd(_node: GraphNode, mat: Tensor): Tensor {
    return mul(mat, this.weight.data);
  }

  /** `∂y/∂w = x`: `Σ_d mat[v, n, d] x[n, d]`, `[V, 1]` summed over the batch or `[V, N, 1]` per sample. */
  override paramJacTMatProd(node: GraphNode, name: string, mat: Tensor, options: ParameterJacobianOptions): Tensor {
    if (name !== 'weight') return super.paramJacTMatProd(node, name, mat, options);
    const perSample = weightJacTMatProd(node, mat);
    return options.sumBatch ? sum(perSample, [1]) : perSample;
  }
}

/** `Σ_d mat[v, n, d] x[n, d]` for `mat` `[V, N, ...]`: `[V, N, 1]`. */
function weightJacTMatProd(node: GraphNode, mat: Tensor): Tensor {
  const [v, n] = [mat.shape[0]!, mat.shape[1]!];
  return reshape(sum(reshape(mul(mat, node.input), [v, n, -1]), [2]), [v, n, 1]);
}

/** BatchGrad's rule for Scale: per sample, `Σ_d g_nd x_nd`, `[N, 1]`. */
export const scaleBatchGrad: RuleForModule<FirstOrderRule, Scale> = (node, gradOutput) => {
  const n = gradOutput.shape[0]!;
  return reshape(sum(reshape(mul(gradOutput, node.input), [n, -1]), [1]), [n, 1]);
};

/** DiagGGNExact's rule for Scale (its nodes typed `GraphNode<Scale>`): S passes to the input times w; P for `w` is `Σ_d S x`. */
export const scaleDiagGgn: RuleForModule<GgnRule, Scale> = {
  backpropagate: (node, sqrt) => mul(sqrt, node.module.weight.data),
  sqrtGgn: (node, _name, sqrt) => weightJacTMatProd(node, sqrt),
};

/** What the example computed. */
export interface CustomModuleResult {
  readonly model: Sequential;
  readonly scale: Scale;
  readonly images: Tensor;
  readonly labels: Tensor;
  /** `w`'s per-sample gradients by one sample at a time (autograd), `[N]`. */
  readonly gradBatchAutograd: readonly number[];
  /** The same from BatchGrad with the Scale rule, `[N, 1]`. */
  readonly gradBatch: Tensor;
  /** The GGN diagonal of `w` written out, and from DiagGGNExact with the rule. */
  readonly diagGgnByHand: number;
  readonly diagGgn: Tensor;
}

/** Runs the example: its report goes line by line to `print`; returns what it computed (for the tests). */
export function main(args: readonly string[] = [], print: (line: string) => void = console.log): CustomModuleResult {
  const { backend, backendNote, batchSize } = parseArgs(args, { name: 'custom-module', batchSize: 10 });
  const dtype = exampleDType(backend);
  print(`backend: ${backend.name}${backendNote}, batch size: ${batchSize}`);
  const { images, labels } = mnistBatch(batchSize, backend, dtype);
  const linear = new Linear(784, 10, { backend, dtype });
  const scale = new Scale(2.0, { backend, dtype });
  const model = extend(new Sequential(new Flatten(), linear, scale));
  // A sum: each per-sample gradient is that sample's own, as in BackPACK's example.
  const lossFunction = extend(new CrossEntropyLoss('sum'));

  // Per-sample gradients with autograd: one sample at a time.
  const gradBatchAutograd = Array.from({ length: batchSize }, (_, n) => {
    const x = slice(images, [n, 0, 0, 0], [1, 1, 28, 28]);
    const y = slice(labels, [n], [1]);
    const [g] = grad(lossFunction.forward(model.forward(x), y), [scale.weight.data]);
    return g!.item();
  });

  // The same with BackPACK, BatchGrad knowing Scale through the rule.
  let loss = lossFunction.forward(model.forward(images), labels);
  backpack(new BatchGrad().setModuleRule(Scale, scaleBatchGrad), () => loss.backward());
  const gradBatch = scale.weight.gradBatch!;
  const gradBatchMatch = agree(gradBatch.toArray(), gradBatchAutograd, dtype);
  print(`weight.shape: [1], gradBatch.shape: ${formatShape(gradBatch.shape)}`);
  print(`autograd and BackPACK individual gradients match? ${gradBatchMatch}`);

  // The GGN diagonal of w by hand: y = w z with z the linear layer's output,
  // so ∂y_n/∂w = z_n and GGN_ww = Σ_n z_nᵀ (diag(p_n) - p_n p_nᵀ) z_n.
  const diagGgnByHand = noGrad(() => {
    const z = linear.forward(reshape(images, [batchSize, 784]));
    const p = softmax(mul(z, scale.weight.data), -1);
    const mean = sum(mul(p, z), [1]);
    return sum(mul(p, mul(z, z))).item() - sum(mul(mean, mean)).item();
  });

  model.zeroGrad();
  loss = lossFunction.forward(model.forward(images), labels);
  backpack(new DiagGGNExact().setModuleRule(Scale, scaleDiagGgn), () => loss.backward());
  const diagGgn = scale.weight.diagGgnExact!;
  print(`GGN diagonal of w, by hand: ${diagGgnByHand.toFixed(6)}, BackPACK: ${diagGgn.item().toFixed(6)}`);
  print(`Do manual and BackPACK GGN match? ${agree([diagGgn.item()], [diagGgnByHand], dtype)}`);
  return { model, scale, images, labels, gradBatchAutograd, gradBatch, diagGgnByHand, diagGgn };
}

runIfMain(import.meta.url, main);
