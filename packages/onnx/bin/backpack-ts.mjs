#!/usr/bin/env node
// The `backpack-ts` command. Inside the workspace (TypeScript sources and tsx at
// hand, dependencies exported as source) it runs src/ through tsx; an installed
// package runs the built dist/.
import { existsSync } from 'node:fs';

process.env.ORT_DISABLE_TELEMETRY ??= '1';
// A closed pipe (`backpack-ts ... | head`) ends the command quietly.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const source = new URL('../src/cli/main.ts', import.meta.url);
let tsx;
if (existsSync(source)) {
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    tsx = undefined;
  }
}
let cli;
if (tsx !== undefined) {
  tsx.register();
  cli = await import(source.href);
} else {
  cli = await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
