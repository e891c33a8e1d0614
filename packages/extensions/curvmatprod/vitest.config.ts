import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'curvmatprod', include: ['test/**/*.test.ts'] },
});
