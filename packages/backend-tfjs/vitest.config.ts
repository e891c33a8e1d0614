import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'backend-tfjs', include: ['test/**/*.test.ts'], pool: 'forks', testTimeout: 60_000 },
});
