/**
 * Where each built module goes in the model's tree, which gives the
 * parameters their names: PyTorch's dotted names where the initializers
 * have them (`layer1.0.conv1.weight` in containers `layer1` and `0`), the
 * node's module path for the exporter's anonymous constants
 * (`onnx::MatMul_7` of node `/2/MatMul` becomes `2.weight`), and a
 * root-level leaf with the initializer's own name shown otherwise
 * (`dense/kernel:0`).
 */
import { OnnxScope, type OnnxParameterSource } from './onnx-model.js';
import type { BuiltModule } from './values.js';

/** PyTorch's module path from a node name such as `/layer1/layer1.0/conv1/Conv` (`layer1.0.conv1`). */
export function torchScope(nodeName: string): string | undefined {
  const match = /^\/(.+)\/[^/]+$/.exec(nodeName);
  if (match === null) return undefined;
  let current = '';
  for (const segment of match[1]!.split('/')) {
    if (segment === '') return undefined;
    current = current !== '' && segment.startsWith(`${current}.`) ? segment : current === '' ? segment : `${current}.${segment}`;
  }
  return current;
}

/** Names the PyTorch exporter gives constants it created (e.g. a transposed weight): `onnx::MatMul_7`, or a bare number. */
function isAnonymous(name: string): boolean {
  return name.startsWith('onnx::') || /^\d+$/.test(name);
}

/** A tree of planned paths: scopes (containers) and leaves. */
class PathPlan {
  private readonly kinds = new Map<string, 'scope' | 'leaf'>();
  /** Per base name of `uniqueRoot`, the first suffix not known to be taken. */
  private readonly nextSuffix = new Map<string, number>();

  /** Whether a leaf can be placed at the dotted path `path`. */
  canPlace(path: string): boolean {
    const parts = path.split('.');
    if (parts.some((p) => p === '')) return false;
    for (let i = 1; i < parts.length; i++) {
      if (this.kinds.get(parts.slice(0, i).join('.')) === 'leaf') return false;
    }
    return !this.kinds.has(path);
  }

  /** Places a leaf at `path`, its prefixes becoming scopes. */
  place(path: string): void {
    const parts = path.split('.');
    for (let i = 1; i < parts.length; i++) this.kinds.set(parts.slice(0, i).join('.'), 'scope');
    this.kinds.set(path, 'leaf');
  }

  /** A free root-level name based on `base` (dots replaced): `base`, else `base_2`, `base_3`, ... */
  uniqueRoot(base: string): string {
    const clean = base.replace(/^\/+/, '').replace(/[./]/g, '_') || 'node';
    if (this.canPlace(clean)) return clean;
    // Suffixes below the one remembered were taken, and taken paths stay taken: linear for many equal names.
    let k = this.nextSuffix.get(clean) ?? 2;
    while (!this.canPlace(`${clean}_${k}`)) k++;
    this.nextSuffix.set(clean, k);
    return `${clean}_${k}`;
  }
}

/** Where one built module goes, and the names its parameters show. */
export interface Placement {
  readonly path: string;
  /** Internal dotted name -> name shown (only where they differ). */
  readonly exposed: ReadonlyMap<string, string>;
  /** Shown name -> source. */
  readonly sources: ReadonlyMap<string, OnnxParameterSource>;
}

/** A path for every built module: those with parameters first, as their paths name the parameters. */
export function plan(built: readonly BuiltModule[]): Placement[] {
  const paths = new PathPlan();
  const placements = new Array<Placement | undefined>(built.length);
  // Modules with parameters first: their paths give the parameters their ONNX names.
  built.forEach((b, i) => {
    if (b.params.length === 0) return;
    const names = b.params.map((p) => p.source.initializer);
    const prefixes = new Set(b.params.map((p) => (p.source.initializer.endsWith(`.${p.local}`) ? p.source.initializer.slice(0, -p.local.length - 1) : undefined)));
    const direct = prefixes.size === 1 ? [...prefixes][0] : undefined;
    const scope = torchScope(b.nodes[0]!.name);
    let path: string | undefined;
    if (direct !== undefined && paths.canPlace(direct)) path = direct;
    else if (
      scope !== undefined &&
      paths.canPlace(scope) &&
      b.params.every((p) => p.source.initializer === `${scope}.${p.local}` || isAnonymous(p.source.initializer))
    ) {
      path = scope;
    }
    const exposed = new Map<string, string>();
    const sources = new Map<string, OnnxParameterSource>();
    if (path !== undefined) {
      for (const p of b.params) sources.set(`${path}.${p.local}`, p.source);
    } else {
      path = paths.uniqueRoot(b.nodes[0]!.name || `${b.nodes[0]!.opType}_${i}`);
      b.params.forEach((p, j) => {
        exposed.set(`${path}.${p.local}`, names[j]!);
        sources.set(names[j]!, p.source);
      });
    }
    paths.place(path);
    placements[i] = { path, exposed, sources };
  });
  built.forEach((b, i) => {
    if (b.params.length > 0) return;
    const scope = torchScope(b.nodes[0]!.name);
    const path = scope !== undefined && paths.canPlace(scope) ? scope : paths.uniqueRoot(b.nodes[0]!.name || `${b.nodes[0]!.opType}_${i}`);
    paths.place(path);
    placements[i] = { path, exposed: new Map(), sources: new Map() };
  });
  return placements as Placement[];
}

/** The tree of scopes and leaves the placements describe. */
export function buildTree(built: readonly BuiltModule[], placements: readonly Placement[]): OnnxScope {
  const root = new OnnxScope();
  built.forEach((b, i) => {
    const parts = placements[i]!.path.split('.');
    let scope = root;
    for (const part of parts.slice(0, -1)) {
      const existing = scope.child(part);
      scope = existing instanceof OnnxScope ? existing : scope.add(part, new OnnxScope());
    }
    scope.add(parts[parts.length - 1]!, b.module);
  });
  return root;
}
