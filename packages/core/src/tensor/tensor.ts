import type { Backend, DataArray, DType, Shape } from '../backend/backend.js';
import type { Extension, ExtensionHook } from '../extensions/extension.js';
import type { GraphNode } from '../graph/graph-node.js';
import { formatShape, sizeOf } from './shape.js';
import { trackTensor } from './scope.js';

/** Options of {@link Tensor.backward}; set by `backpack()` or passed directly. */
export interface BackwardOptions {
  /** Extensions to run during this backward pass (see `backpack`). */
  readonly extensions?: readonly Extension[];
  /** Called after the extensions of each module ran (BackPACK's `extension_hook`). */
  readonly extensionHook?: ExtensionHook;
}

type BackwardRunner = (loss: Tensor, options: BackwardOptions) => void;
let runBackward: BackwardRunner | undefined;

/** Installed by the backward engine when core is loaded; keeps tensor.ts free of an import cycle. */
export function installBackwardRunner(runner: BackwardRunner): void {
  runBackward = runner;
}

/**
 * An n-dimensional array on a backend: a handle plus shape and dtype.
 *
 * Tensors are immutable: every op returns a new tensor. Create them with the
 * functions in `ops` (`tensor`, `zeros`, ...) rather than with the constructor.
 */
export class Tensor {
  /** Marks tensors without `instanceof`, so two copies of core still recognise each other's tensors. */
  readonly isTensor = true;
  /** The node of the recorded graph that produced this tensor (set by extended modules). */
  producer: GraphNode | undefined;
  private disposed = false;

  constructor(
    readonly backend: Backend,
    readonly handle: unknown,
    readonly shape: Shape,
    readonly dtype: DType,
  ) {
    trackTensor(this);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Whether `dispose` has been called. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Copies the elements to JavaScript, row-major. A synchronisation point on native backends. */
  toArray(): DataArray {
    this.assertAlive('toArray');
    return this.backend.read(this.handle, this.shape, this.dtype);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new RangeError(`item(): tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not 1`);
    }
    return this.toArray()[0] as number;
  }

  /** Releases the storage (needed on backends with manual memory; harmless elsewhere). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.dispose(this.handle);
  }

  /**
   * Backpropagates from this scalar loss through the recorded graph: fills
   * `.grad` of every parameter reached and runs the extensions that
   * `backpack()` (or `options`) names.
   */
  backward(options: BackwardOptions = {}): void {
    if (runBackward === undefined) throw new Error('backward(): the backward engine is not loaded');
    runBackward(this, options);
  }

  /** Throws if the tensor was disposed. */
  assertAlive(where: string): void {
    if (this.disposed) throw new Error(`${where}: the tensor of shape ${formatShape(this.shape)} was disposed`);
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, ${this.backend.name})`;
  }
}
