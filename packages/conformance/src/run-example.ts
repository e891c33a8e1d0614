/**
 * Runs documentation examples as written, so they cannot drift from the API:
 * pull the code blocks out of a Markdown file, run one as a module and
 * collect what it logs. No test runner is imported; the caller asserts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The code blocks of the Markdown file at `path` fenced as `language` (default `ts`), in order. */
export function markdownCodeBlocks(path: string, language = 'ts'): string[] {
  const markdown = readFileSync(path, 'utf8');
  return [...markdown.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1]!);
}

/**
 * Writes `code` to a temporary folder inside `dir`, imports it, and returns
 * the arguments of every `console.log` call made meanwhile (console.log is
 * silenced, then restored). `dir` should be inside the package whose imports
 * the code uses, so that they resolve; the folder is removed afterwards. The
 * runner must be able to import TypeScript (vitest can).
 */
export async function runModuleCapturingLogs(code: string, dir: string): Promise<unknown[][]> {
  const folder = mkdtempSync(join(dir, '.example-'));
  const file = join(folder, 'example.ts');
  writeFileSync(file, code);
  const calls: unknown[][] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    calls.push(args);
  };
  try {
    await import(file);
  } finally {
    console.log = log;
    rmSync(folder, { recursive: true, force: true });
  }
  return calls;
}
