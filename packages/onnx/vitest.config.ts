import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'onnx',
    include: ['test/**/*.test.ts'],
    // onnxruntime-node breaks under the vm pools; the golden suite runs import, ORT and every extension per case.
    pool: 'forks',
    testTimeout: 60_000,
    env: { ORT_DISABLE_TELEMETRY: '1' },
  },
});
