/**
 * What the published packages export, read with the TypeScript compiler
 * (types and interfaces included, which a runtime import would not show),
 * for checking the names a documentation page gives.
 */
import { join, relative } from 'node:path';
import ts from 'typescript';
import { ROOT, publishedPackages, type PublishedPackage } from './api-docs.js';

/** The published packages' exports, by package name. */
export class ApiNames {
  private readonly checker: ts.TypeChecker;
  private readonly exports = new Map<string, Map<string, ts.Symbol>>();
  private readonly packages: ReadonlyMap<string, PublishedPackage>;

  constructor(packages: readonly PublishedPackage[] = publishedPackages()) {
    const configFile = join(ROOT, 'docs/tsconfig.api.json');
    const config = ts.getParsedCommandLineOfConfigFile(configFile, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    if (config === undefined) throw new Error(`cannot read ${configFile}`);
    const entries = packages.flatMap((p) => p.entryPoints);
    const program = ts.createProgram(
      entries.map((e) => e.file),
      config.options,
    );
    this.checker = program.getTypeChecker();
    this.packages = new Map(packages.map((p) => [p.name, p]));
    for (const p of packages) {
      // A name exported by any entry point of the package counts (`@backpack-ts/onnx/cli` too).
      const names = new Map<string, ts.Symbol>();
      for (const entry of p.entryPoints) {
        const source = program.getSourceFile(entry.file);
        const moduleSymbol = source === undefined ? undefined : this.checker.getSymbolAtLocation(source);
        if (moduleSymbol === undefined) throw new Error(`${entry.name}: ${relative(ROOT, entry.file)} is not a module`);
        for (const symbol of this.checker.getExportsOfModule(moduleSymbol)) names.set(symbol.name, symbol);
      }
      this.exports.set(p.name, names);
    }
  }

  /** The package names known. */
  packageNames(): string[] {
    return [...this.exports.keys()];
  }

  /**
   * Why `path` (`Name` or `Name.member.member`) is not an export of
   * `packageName` (or a member of one), or `undefined` when it is.
   */
  problem(packageName: string, path: string): string | undefined {
    const names = this.exports.get(packageName);
    if (names === undefined) return `${packageName} is not a published package`;
    const [head, ...members] = path.split('.');
    let symbol = names.get(head!);
    if (symbol === undefined) return `${packageName} exports no '${head}'`;
    let owner = head!;
    for (const member of members) {
      const type = this.typeOf(symbol);
      const property = type === undefined ? undefined : this.checker.getPropertyOfType(type, member);
      if (property === undefined) return `${owner} (${packageName}) has no member '${member}'`;
      symbol = property;
      owner = `${owner}.${member}`;
    }
    return undefined;
  }

  /**
   * Why core's `Parameter` has no field `field` declared in `packageName`'s
   * sources, or `undefined` when it has (extension packages add their
   * fields by declaration merging).
   */
  parameterFieldProblem(packageName: string, field: string): string | undefined {
    const owner = this.packages.get(packageName);
    if (owner === undefined) return `${packageName} is not a published package`;
    const parameter = this.exports.get('@backpack-ts/core')?.get('Parameter');
    const type = parameter === undefined ? undefined : this.typeOf(parameter);
    if (type === undefined) return `@backpack-ts/core exports no Parameter type`;
    const property = this.checker.getPropertyOfType(type, field);
    if (property === undefined) return `Parameter has no field '${field}'`;
    const files = (property.declarations ?? []).map((d) => d.getSourceFile().fileName);
    const inside = files.some((file) => !relative(owner.dir, file).startsWith('..'));
    return inside ? undefined : `Parameter.${field} is declared in ${files.map((f) => relative(ROOT, f)).join(', ')}, not in ${packageName}`;
  }

  /** The type whose members `Name.member` reads: a class's instances, an interface, a variable's type. */
  private typeOf(symbol: ts.Symbol): ts.Type | undefined {
    const target = symbol.flags & ts.SymbolFlags.Alias ? this.checker.getAliasedSymbol(symbol) : symbol;
    if (target.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
      return this.checker.getDeclaredTypeOfSymbol(target);
    }
    const declaration = target.valueDeclaration ?? target.declarations?.[0];
    return declaration === undefined ? undefined : this.checker.getTypeOfSymbolAtLocation(target, declaration);
  }
}

/** One row of a Markdown table, by header. */
export type TableRow = Readonly<Record<string, string>> & { readonly line: number };

/** The rows of every Markdown table in `text` whose header has all of `columns`. */
export function tablesWith(text: string, columns: readonly string[]): TableRow[] {
  const rows: TableRow[] = [];
  const lines = text.split('\n');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.trim().startsWith('|') || !/^\s*\|[\s|:-]+\|\s*$/.test(lines[i + 1]!)) continue;
    const header = cells(lines[i]!);
    if (!columns.every((c) => header.includes(c))) continue;
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim().startsWith('|'); j++) {
      const values = cells(lines[j]!);
      rows.push({ ...Object.fromEntries(header.map((h, k) => [h, values[k] ?? ''])), line: j + 1 } as TableRow);
    }
    i = j;
  }
  return rows;
}

/** The contents of the code spans of a table cell. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}
