// `pnpm backpack-ts ...` at the workspace root: pnpm runs root scripts in the
// root directory, so relative paths are resolved against the directory pnpm
// was called from (INIT_CWD) before the CLI starts.
if (process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
await import('./backpack-ts.mjs');
