/**
 * `pnpm example [name] [args]` (from the repository root): lists the
 * examples, or runs one (see `registry.ts`).
 */
import { runExample } from './registry.js';

runExample(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
