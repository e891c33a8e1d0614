import type { AutogradNode, Tensor } from './tensor.js';

/**
 * Op-level recording, the ground level of the two-level graph (ops below,
 * modules above): every op that receives a tensor requiring gradients records
 * itself here with its derivative rules, so that `.grad` is right for any
 * program built from ops.
 *
 * This file is the contract between ops and the engine: ops call
 * {@link recordOp}; the engine walks `tensor.gradFn` back to the leaves.
 */

let gradEnabled = true;

/** Whether ops record themselves (PyTorch's `torch.is_grad_enabled()`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` with recording switched to `enabled`, restoring the previous mode afterwards. */
function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs `fn` without recording: its results require no gradient (PyTorch's `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with recording on, also inside a `noGrad` scope (PyTorch's `torch.enable_grad()`). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/**
 * A module's `forward` being executed. Ops recorded meanwhile remember the
 * innermost frame, so that an error about an op can say in which module
 * (and through which containers) it was called.
 */
export interface CallFrame {
  /** The module running (the tensor layer does not know its type). */
  readonly owner: object;
  /** The frame of the forward that called it; `undefined` at the top. */
  readonly parent: CallFrame | undefined;
}

let currentFrame: CallFrame | undefined;

/** The innermost module forward being executed, if any. */
export function currentCallFrame(): CallFrame | undefined {
  return currentFrame;
}

/**
 * Enters the forward of `owner`: ops recorded until {@link exitCallFrame}
 * are attributed to it. Returns the frame to restore.
 */
export function enterCallFrame(owner: object): CallFrame | undefined {
  const previous = currentFrame;
  currentFrame = { owner, parent: previous };
  return previous;
}

/** Leaves a forward entered with {@link enterCallFrame}, restoring the frame it returned. */
export function exitCallFrame(previous: CallFrame | undefined): void {
  currentFrame = previous;
}

/**
 * The derivative rules of one recorded op call. Both are written with core's
 * ops, so under `createGraph` they are recorded themselves and derivatives of
 * derivatives work.
 *
 * Both take a batch of vectors at once: the given tensor has the op's own
 * shape with any number of extra leading dimensions (the `[V, ...]` matrices
 * of the extensions), and the results carry the same leading dimensions.
 */
export interface OpDerivatives {
  /**
   * Vector-Jacobian product: from the cotangent of the output
   * (`[...lead, ...outputShape]`), the cotangent of each input
   * (`[...lead, ...inputShape]`), or `undefined` for an input that gets none
   * (integer indices, or one that requires no gradient).
   */
  vjp(gradOutput: Tensor): readonly (Tensor | undefined)[];
  /**
   * Jacobian-vector product: from tangents of the inputs (`undefined` for a
   * zero tangent, at least one given, all with the same leading dimensions),
   * the tangent of the output.
   */
  jvp(tangents: readonly (Tensor | undefined)[]): Tensor;
}

/** One recorded call of an op. */
export interface OpNode extends AutogradNode {
  /** Tells an op's node from a module's `GraphNode`. */
  readonly kind: 'op';
  /** The op's name as users call it (`"mul"`, `"sum"`), for messages. */
  readonly name: string;
  /** The op's vector-Jacobian and Jacobian-vector products at this call. */
  readonly derivatives: OpDerivatives;
  /**
   * Whether the op combines entries of different samples, reading axis 0 of
   * its inputs and output as the batch axis (a reduction over axis 0, a
   * matmul contracting it, a reshape or permute that moves it). Per-sample
   * and second-order extensions refuse such an op between modules.
   */
  readonly mixesSamples: boolean;
  /** The module forward that was running when the op was recorded (for messages); `undefined` outside modules. */
  readonly calledIn: CallFrame | undefined;
}

/**
 * Records an op call when gradients are being recorded and one of its inputs
 * requires a gradient: `output.gradFn` becomes the new node. Otherwise does
 * nothing and creates nothing, so programs without gradients pay one check
 * per op. Returns `output`.
 *
 * `derivatives` is called only when the call is recorded.
 */
export function recordOp(
  name: string,
  inputs: readonly Tensor[],
  output: Tensor,
  derivatives: () => OpDerivatives,
  mixesSamples = false,
): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return output;
  const node: OpNode = { kind: 'op', name, inputs, derivatives: derivatives(), mixesSamples, calledIn: currentFrame };
  output.gradFn = node;
  return output;
}

/** Whether `node` was recorded by an op (rather than by a module). */
export function isOpNode(node: AutogradNode | undefined): node is OpNode {
  return (node as { kind?: unknown } | undefined)?.kind === 'op';
}
