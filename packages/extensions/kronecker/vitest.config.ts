import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'kronecker', include: ['test/**/*.test.ts'] },
});
