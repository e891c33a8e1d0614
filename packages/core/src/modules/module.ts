import type { Tensor } from '../tensor/tensor.js';
import { enterCallFrame, exitCallFrame, isGradEnabled } from '../tensor/autograd.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { createParameter, type Parameter } from './parameter.js';

/**
 * Base class of every module: layers, activations, losses and containers.
 *
 * Like `torch.nn.Module`: a module owns named parameters, buffers and child
 * modules, has a training/evaluation mode, and computes `forward`. Names of
 * nested parameters follow PyTorch (`"1.weight"` inside a Sequential).
 */
export abstract class Module {
  /** Module type as PyTorch spells it, used in messages: `"Linear"`, `"ReLU"`, ... */
  abstract readonly typeName: string;
  /** Training mode (`train()`) or evaluation mode (`eval()`). */
  training = true;
  /** Dotted path inside the model it was extended with (`"1"`), for messages; empty at the root. */
  path = '';

  private readonly ownParameters = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownChildren = new Map<string, Module>();

  constructor() {
    // Each call of forward runs in a call frame, so that ops recorded inside
    // can name the module that ran them; nothing records under noGrad, so no
    // frame then. Subclasses define forward, hence wrapped per instance (a
    // forward declared as a class field replaces the wrapper and only loses
    // that attribution).
    const forward = this.forward as ((...inputs: Tensor[]) => Tensor) | undefined;
    if (typeof forward === 'function') {
      this.forward = (...inputs: Tensor[]): Tensor => {
        if (!isGradEnabled()) return forward.apply(this, inputs);
        const previous = enterCallFrame(this);
        try {
          return forward.apply(this, inputs);
        } finally {
          exitCallFrame(previous);
        }
      };
    }
  }

  /** Computes the module's output. */
  abstract forward(...inputs: Tensor[]): Tensor;

  /** Registers a parameter under `name` and returns it. */
  protected registerParameter(name: string, data: Tensor): Parameter {
    const parameter = createParameter(data);
    this.ownParameters.set(name, parameter);
    return parameter;
  }

  /** Registers a non-trainable tensor (e.g. BatchNorm's running mean). */
  protected registerBuffer(name: string, data: Tensor): void {
    this.ownBuffers.set(name, data);
  }

  /** Registers a child module under `name` and returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.ownChildren.set(name, module);
    return module;
  }

  /** This module's own parameter called `name`, or an error naming the module. */
  parameter(name: string): Parameter {
    const parameter = this.ownParameters.get(name);
    if (parameter === undefined) throw new Error(`${this.describe()} has no parameter '${name}'`);
    return parameter;
  }

  /** This module's own buffer called `name`. */
  buffer(name: string): Tensor {
    const buffer = this.ownBuffers.get(name);
    if (buffer === undefined) throw new Error(`${this.describe()} has no buffer '${name}'`);
    return buffer;
  }

  /** This module's own parameters (not its children's), by local name. */
  ownNamedParameters(): [string, Parameter][] {
    return [...this.ownParameters];
  }

  /** This module's own parameters that backward passes compute for (`requiresGrad`), by local name. */
  ownTrainableParameters(): [string, Parameter][] {
    return this.ownNamedParameters().filter(([, parameter]) => parameter.requiresGrad);
  }

  /** Direct children, by local name. */
  namedChildren(): [string, Module][] {
    return [...this.ownChildren];
  }

  /** This module and every descendant, with dotted names (`""` for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.ownChildren) {
      out.push(...child.namedModules(prefix === '' ? name : `${prefix}.${name}`));
    }
    return out;
  }

  /** Every parameter of the tree with PyTorch's dotted names; a shared parameter is listed once. */
  namedParameters(): [string, Parameter][] {
    return this.collect((m) => m.ownParameters);
  }

  /** Every parameter of the tree, each once. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer of the tree with dotted names. */
  namedBuffers(): [string, Tensor][] {
    return this.collect((m) => m.ownBuffers);
  }

  private collect<T extends object>(own: (m: Module) => Map<string, T>): [string, T][] {
    const seen = new Set<T>();
    const out: [string, T][] = [];
    for (const [prefix, module] of this.namedModules()) {
      for (const [name, value] of own(module)) {
        if (seen.has(value)) continue;
        seen.add(value);
        out.push([prefix === '' ? name : `${prefix}.${name}`, value]);
      }
    }
    return out;
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, module] of this.namedModules()) module.training = mode;
    return this;
  }

  /** Sets evaluation mode on this module and every descendant. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Forgets the gradient of every parameter (PyTorch's `zero_grad(set_to_none=True)`),
   * disposing it: the engine created it, so on backends with manual memory nobody else
   * frees it. A gradient read afterwards fails with an error naming this call; keep a copy
   * with `grad.clone()` before. Extension quantities (`gradBatch`, ...) stay until the next
   * pass that computes them replaces them.
   */
  zeroGrad(): void {
    const reason = `by zeroGrad() of ${this.describe()} (call clone() on a gradient to keep it)`;
    for (const parameter of this.parameters()) {
      parameter.grad?.dispose(reason);
      parameter.grad = undefined;
    }
  }

  /**
   * Replaces parameters and buffers by dotted name, e.g. with tensors exported
   * from PyTorch. Every name must exist and every shape, dtype and backend
   * must match; nothing is changed unless all do. The module holds the given
   * tensors from then on; the replaced ones are not disposed (they may be
   * shared), so on backends with manual memory dispose them yourself.
   * Each replaced parameter's `version` increments, so a forward pass
   * recorded before the call is refused by `backward()`.
   */
  loadStateDict(state: Readonly<Record<string, Tensor>>): void {
    const parameters = new Map(this.namedParameters());
    const buffers = new Map(this.namedBuffers());
    const problems: string[] = [];
    for (const [name, value] of Object.entries(state)) {
      const current = parameters.get(name)?.data ?? buffers.get(name);
      if (current === undefined) problems.push(`unknown name '${name}'`);
      else if (!shapesEqual(current.shape, value.shape)) {
        problems.push(`'${name}' has shape ${formatShape(current.shape)}, got ${formatShape(value.shape)}`);
      } else if (current.dtype !== value.dtype || current.backend !== value.backend) {
        problems.push(
          `'${name}' is ${current.dtype} on '${current.backend.name}', got ${value.dtype} on '${value.backend.name}'`,
        );
      }
    }
    if (problems.length > 0) throw new Error(`${this.describe()}.loadStateDict: ${problems.join('; ')}`);
    for (const [name, value] of Object.entries(state)) {
      const parameter = parameters.get(name);
      if (parameter !== undefined) parameter.data = value;
      else this.replaceBuffer(name, value);
    }
  }

  private replaceBuffer(dottedName: string, value: Tensor): void {
    const parts = dottedName.split('.');
    const local = parts.pop()!;
    let owner: Module = this;
    for (const part of parts) owner = owner.ownChildren.get(part)!;
    owner.ownBuffers.set(local, value);
  }

  /** `Linear '1'` (type and path), for messages. */
  describe(): string {
    return this.path === '' ? this.typeName : `${this.typeName} '${this.path}'`;
  }
}
