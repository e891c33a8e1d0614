import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'mnist', include: ['test/**/*.test.ts'] },
});
