import { defineConfig } from 'vitest/config';

// CI asks for a machine-readable report (pnpm 12 would take a --reporter flag for itself).
const jsonReport = process.env['VITEST_JSON_REPORT'];

export default defineConfig({
  test: {
    // Config files, not folders: 'packages/*' would also match the folder packages/extensions
    // and run every extension's tests a second time as a project called 'extensions'.
    projects: [
      'packages/*/vitest.config.ts',
      'packages/extensions/*/vitest.config.ts',
      'examples/vitest.config.ts',
      'examples/browser/vitest.config.ts',
      'bench/vitest.config.ts',
      'docs/vitest.config.ts',
    ],
    // onnxruntime-node breaks under the vm pools; keep the default forks pool.
    pool: 'forks',
    reporters: jsonReport === undefined ? ['default'] : ['default', 'json'],
    ...(jsonReport === undefined ? {} : { outputFile: { json: jsonReport } }),
  },
});
