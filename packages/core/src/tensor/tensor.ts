import type { ArrayOf, Backend, DataArray, DType, Shape } from '../backend/backend.js';
import { formatShape, sizeOf } from './shape.js';

/**
 * Options of {@link Tensor.backward}. The extension fields (`extensions`,
 * `extensionHook`) are declared where extensions are defined
 * (`extensions/backward-engine.ts`, by declaration merging), so that this
 * low layer names no type of a higher one.
 */
export interface BackwardOptions {
  /**
   * The gradient of some scalar w.r.t. this tensor, of this tensor's shape
   * (PyTorch's `gradient`); default 1, which only a one-element tensor may omit.
   */
  readonly gradient?: Tensor;
  /**
   * Keep the graph for another backward pass through it (default: the value
   * of `createGraph`). Without it a second pass through the same recorded
   * nodes is an error, as in PyTorch.
   */
  readonly retainGraph?: boolean;
  /**
   * Record the backward pass itself, so that the gradients (and the
   * extensions' quantities) can be differentiated again: Hessian-vector
   * products, gradients of the variance. Tensors the pass creates then belong
   * to the enclosing `tidy` scope (see `tidy`), since the results' graphs
   * refer to them.
   */
  readonly createGraph?: boolean;
}

type BackwardRunner = (loss: Tensor, options: BackwardOptions) => void;
let runBackward: BackwardRunner | undefined;

/**
 * Installed by the backward engine when core is loaded: `backward()` reaches
 * the engine (a higher layer) through this hook rather than an import.
 */
export function installBackwardRunner(runner: BackwardRunner): void {
  runBackward = runner;
}

let cloneOp: ((x: Tensor) => Tensor) | undefined;

/**
 * Installed by the ops when core is loaded: {@link Tensor.clone} reaches the
 * recorded `clone` op (a higher layer) through this hook rather than an import.
 */
export function installCloneOp(op: (x: Tensor) => Tensor): void {
  cloneOp = op;
}

/**
 * The open `tidy` scopes, innermost last; each tracks the tensors created
 * while it is open (see `scope.ts`, which manages them). Here, so that the
 * constructor can register a tensor without this file importing the scope
 * functions that take tensors.
 */
export const openScopes: Set<Tensor>[] = [];

/**
 * A recorded node of the graph: what produced a tensor. Ops record
 * `OpNode`s (`autograd.ts`); modules with hand-written derivatives record
 * {@link ModuleCall}s.
 */
export interface AutogradNode {
  /** The tensors the node was computed from, in order. */
  readonly inputs: readonly Tensor[];
}

/**
 * One recorded call of a module with hand-written derivatives: a single node
 * of the graph, however many ops the module ran. Its members are declared
 * where the class is (`GraphNode` in `modules/leaf-module.ts`, by
 * declaration merging).
 */
export interface ModuleCall extends AutogradNode {
  /** Tells a module's node from an op's `OpNode`. */
  readonly kind: 'module';
}

/**
 * An n-dimensional array on a backend: a handle plus shape and dtype.
 *
 * Tensors are immutable: every op returns a new tensor. Create them with the
 * functions in `ops` (`tensor`, `zeros`, ...) rather than with the constructor.
 *
 * `D` is the dtype when known statically: `tensor(data, shape, { dtype:
 * 'float64' })` and `cast(x, 'float64')` give a `Tensor<'float64'>`, whose
 * `toArray()` is a `Float64Array`. Ops return `Tensor` (any dtype); read
 * those with `toArray('float64')` (checked at run time) or `toNumbers()`.
 */
export class Tensor<D extends DType = DType> {
  /** Marks tensors without `instanceof`, so two copies of core still recognise each other's tensors. */
  readonly isTensor = true;
  /** The recorded node that produced this tensor; `undefined` for leaves and for results computed without recording. */
  gradFn: AutogradNode | undefined = undefined;
  /**
   * The gradient accumulated into this leaf by backward passes, when it
   * requires gradients and is not a parameter's data (parameters keep theirs
   * as `parameter.grad`). Reset it with `undefined` (after disposing it, on
   * backends with manual memory).
   */
  grad: Tensor | undefined = undefined;
  private disposed = false;
  /** Who disposed the tensor, when they said (see {@link dispose}). */
  private disposedBy: string | undefined = undefined;
  private leafRequiresGrad = false;

  constructor(
    /** The backend that holds the data and runs every op on this tensor. */
    readonly backend: Backend,
    /** The backend's storage of the data (opaque outside the backend). */
    readonly handle: unknown,
    /** Dimensions, outermost first (row-major); `[]` is a scalar. */
    readonly shape: Shape,
    /** Element type. */
    readonly dtype: D,
  ) {
    openScopes[openScopes.length - 1]?.add(this);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /**
   * Whether gradients flow into this tensor: a leaf that asked for them
   * ({@link requiresGrad_}, parameters), or a result recorded from one.
   */
  get requiresGrad(): boolean {
    return this.leafRequiresGrad || this.gradFn !== undefined;
  }

  /**
   * Makes this leaf tensor require gradients (or not), as PyTorch's
   * `requires_grad_()`: ops on it are recorded from now on. Only leaves can
   * change; a recorded result requires gradients because its inputs do.
   */
  requiresGrad_(requiresGrad = true): this {
    if (this.gradFn !== undefined) {
      throw new Error(
        `requiresGrad_(): only leaf tensors can change whether they require gradients; this ${this.toString()} was computed by recorded ops (use detach() for a leaf copy)`,
      );
    }
    this.leafRequiresGrad = requiresGrad;
    return this;
  }

  /** The module call that produced this tensor (its `gradFn` when a module recorded it), else `undefined`. */
  get producer(): ModuleCall | undefined {
    const node = this.gradFn as Partial<ModuleCall> | undefined;
    return node?.kind === 'module' ? (node as ModuleCall) : undefined;
  }

  /**
   * A leaf on the same values that requires no gradient (PyTorch's
   * `detach()`): ops on it are not recorded into this tensor's graph. It is a
   * second handle on the same storage (backends count references), so either
   * tensor can be disposed without the other.
   */
  detach(): Tensor<D> {
    this.assertAlive('detach');
    // Kernels never see empty tensors; an empty one has no storage to share.
    const handle =
      this.size === 0 ? this.backend.full(this.shape, 0, this.dtype) : this.backend.reshape(this.handle, this.shape, this.shape, this.dtype);
    return new Tensor(this.backend, handle, this.shape, this.dtype);
  }

  /**
   * A copy (PyTorch's `clone()`, the op `clone`): a tensor of its own, alive
   * after this one is disposed, through which gradients flow back unchanged.
   * The way to keep a value its owner will dispose, such as an extension's
   * quantity on a parameter, across backward passes.
   */
  clone(): Tensor<D> {
    if (cloneOp === undefined) throw new Error('clone(): the ops are not loaded');
    return cloneOp(this) as Tensor<D>;
  }

  /** Whether `dispose` has been called. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Copies the elements to JavaScript, row-major, as the typed array of the
   * dtype (a `Float64Array` for float64, ...). A synchronisation point on
   * native backends.
   */
  toArray(): ArrayOf<D>;
  /**
   * {@link toArray} as the typed array of `dtype`, which must be this
   * tensor's dtype (checked: an error names the actual one), for a tensor
   * whose dtype is not known statically: `loss.toArray('float64')` is a
   * `Float64Array`.
   */
  toArray<E extends DType>(dtype: E): ArrayOf<E>;
  toArray(dtype?: DType): DataArray {
    this.assertAlive('toArray');
    if (dtype !== undefined && dtype !== this.dtype) {
      throw new TypeError(`toArray('${dtype}'): the tensor is ${this.dtype} (${this.toString()}); read it as '${this.dtype}', or cast it first`);
    }
    return this.backend.read(this.handle, this.shape, this.dtype);
  }

  /** Copies the elements to a plain JavaScript array of numbers, row-major, whatever the dtype. */
  toNumbers(): number[] {
    return Array.from(this.toArray());
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new RangeError(`item(): tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not 1`);
    }
    return this.toArray()[0] as number;
  }

  /**
   * Releases the storage (needed on backends with manual memory; harmless
   * elsewhere). `reason` says who disposed it and why (`"by zeroGrad() of
   * Sequential"`): any later use of the tensor fails with an error that
   * repeats it. A second call changes nothing.
   */
  dispose(reason?: string): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposedBy = reason;
    this.backend.dispose(this.handle);
  }

  /**
   * Backpropagates from this tensor (a scalar loss, or any tensor with
   * `options.gradient`) through the recorded graph: accumulates `.grad` of
   * every parameter and every leaf that requires gradients, and runs the
   * extensions that `backpack()` (or `options`) names.
   */
  backward(options: BackwardOptions = {}): void {
    if (runBackward === undefined) throw new Error('backward(): the backward engine is not loaded');
    runBackward(this, options);
  }

  /** Throws if the tensor was disposed, saying by whom when {@link dispose} was told. */
  assertAlive(where: string): void {
    if (!this.disposed) return;
    const by = this.disposedBy === undefined ? '' : ` ${this.disposedBy}`;
    throw new Error(`${where}: the tensor of shape ${formatShape(this.shape)} was disposed${by}`);
  }

  /** `Tensor([2, 3], float64, cpu)`: shape, dtype and backend, not the values. */
  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, ${this.backend.name})`;
  }
}
