import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'first-order', include: ['test/**/*.test.ts'] },
});
