/**
 * A recorded step: the kernel calls of one run of a step function, in
 * order, over values (what each call made) and externals (handles that
 * existed before the step).
 */
import type { Result } from './kernels.js';

/** Where an operand comes from: a value made earlier in the step, or an external handle (numbered by first appearance). */
export type Ref = { readonly kind: 'value'; readonly id: number } | { readonly kind: 'external'; readonly slot: number };

/** A handle in a recorded call's arguments. */
export class RefArg {
  constructor(readonly ref: Ref) {}
}

/** One kernel call. */
export interface Call {
  readonly kernel: string;
  /** The arguments, every handle replaced by a {@link RefArg}; `fromData`'s data by `null` (a value fed to the graph). */
  readonly args: readonly unknown[];
  /** The handle operands in order (as in `args`). */
  readonly operands: readonly Ref[];
  /** Values made by the call: two for `maxPool`, none for an optional kernel that declined, `read` and `dispose`. */
  readonly outputs: readonly number[];
}

/** A value: its shape and dtype, and whether its data comes from JavaScript (`fromData`, fed to the graph). */
export interface ValueInfo extends Result {
  readonly fed: boolean;
}

export interface Trace {
  readonly calls: readonly Call[];
  readonly values: ReadonlyMap<number, ValueInfo>;
  /** The shape and dtype of each external at its first use as a kernel's operand (externals only disposed have none). */
  readonly externals: ReadonlyMap<number, Result>;
  /** Values alive when the step ended (the computed ones are the graph's outputs). */
  readonly live: readonly number[];
}

function sameRef(a: Ref, b: Ref): boolean {
  return a.kind === 'value' ? b.kind === 'value' && a.id === b.id : b.kind === 'external' && a.slot === b.slot;
}

/** Whether two encoded arguments are the same: numbers, strings, booleans, refs, and arrays or plain objects of them. */
export function sameArg(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (a instanceof RefArg || b instanceof RefArg) return a instanceof RefArg && b instanceof RefArg && sameRef(a.ref, b.ref);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameArg(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((key) => sameArg((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

