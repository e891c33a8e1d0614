import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'optim', include: ['test/**/*.test.ts'] },
});
