import { defineProject } from 'vitest/config';

// Tests of the harness's own logic (reference parsing, ratios); the benchmark itself is `pnpm bench`.
export default defineProject({
  test: { name: 'bench', include: ['test/**/*.test.ts'] },
});
