import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'diag-hessian', include: ['test/**/*.test.ts'] },
});
