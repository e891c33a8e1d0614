import { defineProject } from 'vitest/config';

export default defineProject({
  // onnxruntime-node's native binding breaks under vitest's vm pools: keep the default forks pool.
  test: { name: 'backend-onnxruntime', include: ['test/**/*.test.ts'], pool: 'forks', testTimeout: 120_000 },
});
