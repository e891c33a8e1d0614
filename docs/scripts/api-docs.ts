/**
 * The API reference: TypeDoc over every published package, one module per
 * entry of each package's `exports` map (`@backpack-ts/core`,
 * `@backpack-ts/onnx/cli`, ...), with validation on and every warning an
 * error.
 *
 *   pnpm run docs        # writes docs/api/index.html (gitignored; `pnpm docs` is pnpm's own command)
 *
 * `docs/test/typedoc.test.ts` runs the same conversion and validation and
 * asserts that nothing is reported.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Application, ConsoleLogger, LogLevel, TSConfigReader, type ProjectReflection, type TypeDocOptions } from 'typedoc';

/** The repository's root folder. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where `pnpm docs` writes the HTML reference. */
export const API_OUT = join(ROOT, 'docs/api');

/** One entry of a published package's `exports` map. */
export interface EntryPoint {
  /** The import specifier: `@backpack-ts/core`, `@backpack-ts/onnx/cli`, ... */
  readonly name: string;
  /** The TypeScript source it resolves to in the workspace, absolute. */
  readonly file: string;
}

/** A workspace package that is published (not `private`). */
export interface PublishedPackage {
  readonly name: string;
  /** Its folder, absolute. */
  readonly dir: string;
  readonly entryPoints: readonly EntryPoint[];
}

/** The folders of the workspace's packages that can be published: `packages/*` and `packages/extensions/*`. */
function packageDirs(): string[] {
  const dirs: string[] = [];
  for (const parent of ['packages', 'packages/extensions']) {
    for (const entry of readdirSync(join(ROOT, parent), { withFileTypes: true })) {
      const dir = join(ROOT, parent, entry.name);
      if (entry.isDirectory() && readdirSync(dir).includes('package.json')) dirs.push(dir);
    }
  }
  return dirs.sort();
}

/**
 * Every published package with the entry points of its `exports` map (the
 * `types` condition, which points at the TypeScript source in the workspace).
 */
export function publishedPackages(): PublishedPackage[] {
  const packages: PublishedPackage[] = [];
  for (const dir of packageDirs()) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
      exports?: Record<string, { types?: string } | string>;
    };
    if (manifest.private === true) continue;
    const entryPoints = Object.entries(manifest.exports ?? {}).map(([subpath, target]) => {
      const types = typeof target === 'string' ? target : target.types;
      if (types === undefined || !types.endsWith('.ts')) {
        throw new Error(`${manifest.name}: exports['${subpath}'] has no TypeScript 'types' entry`);
      }
      return { name: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.replace(/^\.\//, '')}`, file: join(dir, types) };
    });
    packages.push({ name: manifest.name, dir, entryPoints });
  }
  return packages;
}

/**
 * Types that the public API refers to but no entry point exports, as
 * `<package>/<file>:<name>`. Each should be exported by its package (a change
 * of the API, not of the docs, so left to the packages' owners); until then
 * the reference shows their name without a page. TypeDoc reports an entry
 * here that no longer matches, so the list can only shrink.
 */
export const KNOWN_UNEXPORTED: readonly string[] = [
  '@backpack-ts/core/src/modules/conv-common.ts:CommonConvOptions',
  '@backpack-ts/core/src/modules/conv-common.ts:SpatialArg',
  '@backpack-ts/first-order/src/module-rules.ts:Factors',
  '@backpack-ts/onnx/src/proto/onnx-proto.ts:AttributeProto',
  '@backpack-ts/onnx/src/proto/onnx-proto.ts:ValueInfoProto',
  '@backpack-ts/onnx/src/proto/onnx-proto.ts:OperatorSetId',
  '@backpack-ts/onnx/src/import/onnx-model.ts:OnnxModelParts',
];

/** TypeDoc's options: one program over every package's sources, strict validation. */
export function typedocOptions(packages: readonly PublishedPackage[] = publishedPackages()): TypeDocOptions {
  return {
    name: 'backpack-ts',
    tsconfig: join(ROOT, 'docs/tsconfig.api.json'),
    entryPoints: packages.flatMap((p) => p.entryPoints.map((e) => e.file)),
    entryPointStrategy: 'resolve',
    // Module names come from each entry file's `@module` tag (the import specifier).
    readme: 'none',
    out: API_OUT,
    cleanOutputDir: true,
    excludePrivate: true,
    excludeProtected: false,
    excludeInternal: true,
    disableSources: true,
    githubPages: false,
    hideGenerator: true,
    sort: ['source-order'],
    validation: { notExported: true, invalidLink: true, invalidPath: true, rewrittenLink: true, notDocumented: true, unusedMergeModuleWith: true },
    // Every package of the workspace, not only the root's (which TypeDoc would check alone).
    packagesRequiringDocumentation: packages.map((p) => p.name),
    treatWarningsAsErrors: true,
    treatValidationWarningsAsErrors: true,
    // The compiler already checks the sources (`pnpm typecheck`).
    skipErrorChecking: true,
    logLevel: 'Info',
  };
}

/** A warning or error TypeDoc reported. */
export interface DocsMessage {
  readonly level: 'warning' | 'error';
  readonly text: string;
}

/** Collects warnings and errors; prints every message too when `echo` is set. */
class CollectingLogger extends ConsoleLogger {
  readonly messages: DocsMessage[] = [];
  constructor(private readonly echo: boolean) {
    super();
  }
  override log(message: string, level: Exclude<LogLevel, LogLevel.None>): void {
    if (level === LogLevel.Warn || level === LogLevel.Error) {
      this.messages.push({ level: level === LogLevel.Warn ? 'warning' : 'error', text: message });
    }
    if (this.echo) super.log(message, level);
  }
}

/**
 * TypeDoc checks `notExported` only for the types of the project's own
 * package (the private workspace root here), so this runs that check once
 * per published package, as that package.
 */
function validateExportsPerPackage(
  app: Application,
  project: ProjectReflection,
  packages: readonly PublishedPackage[],
  knownUnexported: readonly string[],
): void {
  const validation = app.options.getValue('validation');
  const rootPackage = project.packageName;
  const off = { notExported: false, notDocumented: false, invalidLink: false, invalidPath: false, rewrittenLink: false, unusedMergeModuleWith: false };
  app.options.setValue('validation', { ...off, notExported: true });
  try {
    for (const { name } of packages) {
      project.packageName = name;
      app.options.setValue('intentionallyNotExported', knownUnexported.filter((entry) => entry.startsWith(`${name}/`)));
      app.validate(project);
    }
  } finally {
    project.packageName = rootPackage;
    app.options.setValue('validation', validation);
    app.options.setValue('intentionallyNotExported', []);
  }
}

/** What {@link buildApiDocs} did. */
export interface ApiDocsResult {
  /** Every warning and error, in order (validation warnings included). */
  readonly messages: readonly DocsMessage[];
  /** Module names of the converted project, one per entry point. */
  readonly modules: readonly string[];
  /** Where the HTML went, when it was written. */
  readonly out?: string;
}

/** Options of {@link buildApiDocs}. */
export interface ApiDocsOptions {
  /** Where the HTML goes (default {@link API_OUT}); `false` only converts and validates. */
  readonly out?: string | false;
  /** Print TypeDoc's messages too (the command line does). */
  readonly echo?: boolean;
  /** Replaces {@link KNOWN_UNEXPORTED} (the test checks that the check still finds them). */
  readonly knownUnexported?: readonly string[];
}

/** Converts and validates every published package; writes the HTML reference unless `out` is `false`. */
export async function buildApiDocs(options: ApiDocsOptions = {}): Promise<ApiDocsResult> {
  const out = options.out ?? API_OUT;
  const logger = new CollectingLogger(options.echo ?? false);
  const typedoc = { ...typedocOptions(), ...(out === false ? {} : { out }) };
  const app = await Application.bootstrap(typedoc, [new TSConfigReader()]);
  app.logger = logger;
  const project = await app.convert();
  if (project === undefined) {
    return { messages: [...logger.messages, { level: 'error', text: 'TypeDoc converted nothing' }], modules: [] };
  }
  app.validate(project);
  validateExportsPerPackage(app, project, publishedPackages(), options.knownUnexported ?? KNOWN_UNEXPORTED);
  const modules = (project.children ?? []).map((child) => child.name);
  if (out !== false && logger.messages.length === 0) {
    await app.generateDocs(project, out);
    return { messages: logger.messages, modules, out };
  }
  return { messages: logger.messages, modules };
}

async function cli(): Promise<void> {
  const started = Date.now();
  const result = await buildApiDocs({ echo: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const warnings = result.messages.filter((m) => m.level === 'warning').length;
  const errors = result.messages.length - warnings;
  if (result.messages.length > 0) {
    console.error(`docs: ${warnings} warning(s), ${errors} error(s) in ${seconds} s; nothing written`);
    process.exitCode = 1;
    return;
  }
  console.log(`docs: ${result.modules.length} modules, no warnings, in ${seconds} s: ${relative(process.cwd(), join(result.out!, 'index.html'))}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await cli();
