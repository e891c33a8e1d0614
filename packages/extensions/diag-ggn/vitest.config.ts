import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'diag-ggn', include: ['test/**/*.test.ts'] },
});
