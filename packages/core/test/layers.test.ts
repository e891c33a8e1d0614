/**
 * Core's folders are layers that import downward only, and no file imports
 * itself back through others. Every `src/**\/*.ts` file is parsed with the
 * TypeScript compiler; a dependency is any module specifier it names:
 * `import` and `import type`, `export ... from`, `import('...')` (call or
 * type) and `declare module '...'` (an augmentation of a lower layer's type).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** Lowest first: a folder may import its own and lower layers. Keep in sync with docs/ARCHITECTURE.md. */
const LAYERS = ['backend', 'tensor', 'ops', 'modules', 'losses', 'graph', 'extensions'];

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Paths relative to src, with `/` separators. */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path).split('\\').join('/')] : [];
  });
}

function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(SRC, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const literal = (node: ts.Node | undefined) => {
    if (node !== undefined && ts.isStringLiteral(node)) found.push(node.text);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) literal(node.moduleSpecifier);
    else if (ts.isModuleDeclaration(node)) literal(node.name);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) literal(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) literal(node.argument.literal);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) literal(node.arguments[0]);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Each file's imports of other core files (relative specifiers, `.js` naming the `.ts` source). */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles();
  const known = new Set(files);
  return new Map(
    files.map((file) => {
      const targets = specifiers(file)
        .filter((s) => s.startsWith('.'))
        .map((s) => {
          const target = relative(SRC, resolve(SRC, dirname(file), s.replace(/\.js$/, '.ts'))).split('\\').join('/');
          if (!known.has(target)) throw new Error(`${file} imports '${s}', which is not a file of core's src`);
          return target;
        });
      return [file, targets];
    }),
  );
}

/** The cycles closed by the back edges of a depth-first search (none exactly when the graph is acyclic), as the files along each. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file)!) {
      if (state.get(target) === 'open') found.push([...path.slice(path.indexOf(target)), target]);
      else if (!state.has(target)) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

const folderOf = (file: string): string | undefined => (file.includes('/') ? file.slice(0, file.indexOf('/')) : undefined);

describe("core's import graph", () => {
  const graph = importGraph();

  it('parses imports of every kind (a check of the parser itself)', () => {
    expect(graph.get('index.ts')).toContain('tensor/tensor.ts'); // export ... from
    expect(graph.get('ops/create.ts')).toContain('backend/backend.ts'); // import type
    expect(graph.get('tensor/scope.ts')).toContain('tensor/tensor.ts'); // import { value, type T }
    expect(graph.get('modules/leaf-module.ts')).toContain('tensor/tensor.ts'); // declare module (also imported)
    expect(specifiers('modules/leaf-module.ts').filter((s) => s === '../tensor/tensor.js')).toHaveLength(2);
  });

  it('has no cycle among files, counting type imports', () => {
    expect(cycles(graph).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('every folder is a layer and imports only its own and lower layers', () => {
    const violations: string[] = [];
    for (const [file, targets] of graph) {
      const folder = folderOf(file);
      if (folder === undefined) continue; // src/index.ts, the package entry, sits above every layer
      const layer = LAYERS.indexOf(folder);
      expect(layer, `folder ${folder} is not in LAYERS`).toBeGreaterThanOrEqual(0);
      for (const target of targets) {
        const targetFolder = folderOf(target);
        if (targetFolder === undefined || LAYERS.indexOf(targetFolder) > layer) violations.push(`${file} -> ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
