import type { Shape } from '../backend/backend.js';

/** Number of elements of a tensor of this shape. */
export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** `[2, 3]` -> `"[2, 3]"`, for error messages. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Whether two shapes have the same dimensions. */
export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Turns a possibly negative axis into one in `[0, rank)`, or throws. */
export function normalizeAxis(axis: number, rank: number, where: string): number {
  const normalized = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || normalized < 0 || normalized >= rank) {
    throw new RangeError(`${where}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return normalized;
}

/** The NumPy broadcast of two shapes, or an error naming both. */
export function broadcastShapes(a: Shape, b: Shape, where: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(
        `${where}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together`,
      );
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** `shape` with leading ones added up to `rank`. */
export function padShapeLeft(shape: Shape, rank: number): number[] {
  return [...new Array<number>(rank - shape.length).fill(1), ...shape];
}
