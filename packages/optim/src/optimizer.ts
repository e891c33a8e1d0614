import { keep, noGrad, tidy, type Parameter, type Tensor } from '@backpack-ts/core';
import { namedParameterList, type NamedParameter, type ParameterSource } from './parameters.js';

/** One parameter's new value and new state, computed by {@link Optimizer.update}. */
export interface ParameterUpdate<S extends object> {
  /** The parameter's next `data`. */
  readonly data: Tensor;
  /** What to remember about the parameter until the next step (momentum buffers, step counts); its tensors belong to the optimiser. */
  readonly state: S;
}

/**
 * Base class of the optimisers, as `torch.optim.Optimizer`: holds the
 * parameters and their state `S` (what it remembers about each parameter
 * between steps), and runs a step in three phases so that a
 * refused step changes nothing:
 *
 * 1. {@link checkParameter} on every parameter that has a gradient (those
 *    without one are skipped, as in PyTorch); any error stops the step here;
 * 2. {@link update} on each, under `noGrad` in one `tidy`, which frees every
 *    temporary;
 * 3. every parameter's `data` replaced (its `version` increments) and its
 *    previous `data` and state disposed.
 *
 * The optimiser owns the parameters' data from the first step on: the tensor
 * `parameter.data` held before a step is disposed by it (read its values
 * before stepping if you need them), so repeated steps leave no tensor behind
 * on backends with manual memory.
 */
export abstract class Optimizer<S extends object = object> {
  /** The parameters this optimiser steps, in order, with the names its messages use. */
  readonly parameters: readonly NamedParameter[];
  private readonly states = new Map<Parameter, S>();

  protected constructor(
    /** The optimiser's name in messages (`"SGD"`). */
    readonly typeName: string,
    source: ParameterSource,
  ) {
    this.parameters = namedParameterList(typeName, source);
  }

  /**
   * Updates every parameter that has a gradient (and is not frozen) by the
   * optimiser's rule. Throws before changing anything when a parameter lacks
   * what the rule needs.
   */
  step(): void {
    const active = this.parameters.filter(({ parameter }) => parameter.requiresGrad && parameter.grad !== undefined);
    for (const entry of active) this.checkParameter?.(entry);
    const updates = tidy(() => noGrad(() => active.map((entry) => this.update(entry, this.states.get(entry.parameter)))));
    // Kept out of every scope: a step inside the caller's tidy must not have them disposed with it.
    for (const { data, state } of updates) [data, ...tensorsOf(state)].forEach((t) => keep(t));
    active.forEach(({ parameter }, i) => {
      const { data, state } = updates[i]!;
      const previous = parameter.data;
      parameter.data = data;
      previous.dispose();
      this.disposeState(parameter);
      this.states.set(parameter, state);
    });
  }

  /**
   * Forgets the gradient of every parameter of this optimiser, disposing it
   * (PyTorch's `zero_grad(set_to_none=True)`).
   */
  zeroGrad(): void {
    for (const { parameter } of this.parameters) {
      parameter.grad?.dispose();
      parameter.grad = undefined;
    }
  }

  /** Releases the state of every parameter (momentum buffers, ...); the next step starts afresh. */
  dispose(): void {
    for (const { parameter } of this.parameters) this.disposeState(parameter);
  }

  /**
   * Throws, naming the optimiser and the parameter, if `entry` cannot be
   * updated (a needed quantity is missing or has the wrong shape). Runs for
   * every parameter before any is changed, when a subclass defines it.
   */
  protected checkParameter?(entry: NamedParameter): void;

  /**
   * The new value and state of `entry` (which has a gradient), given its state
   * after the previous step (`undefined` at the first). Runs under `noGrad`
   * inside a `tidy`; must not modify anything.
   */
  protected abstract update(entry: NamedParameter, state: S | undefined): ParameterUpdate<S>;

  private disposeState(parameter: Parameter): void {
    const state = this.states.get(parameter);
    if (state === undefined) return;
    for (const tensor of tensorsOf(state)) tensor.dispose();
    this.states.delete(parameter);
  }
}

function tensorsOf(state: object): Tensor[] {
  return Object.values(state).filter((value): value is Tensor => (value as Partial<Tensor> | undefined)?.isTensor === true);
}
