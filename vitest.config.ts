import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Config files, not folders: 'packages/*' would also match the folder packages/extensions
    // and run every extension's tests a second time as a project called 'extensions'.
    projects: ['packages/*/vitest.config.ts', 'packages/extensions/*/vitest.config.ts', 'examples/vitest.config.ts'],
    // onnxruntime-node breaks under the vm pools; keep the default forks pool.
    pool: 'forks',
  },
});
