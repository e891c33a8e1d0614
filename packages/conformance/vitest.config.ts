import { defineProject } from 'vitest/config';

export default defineProject({
  // A full conformance run (about 1,800 checks) takes a few seconds, more on a loaded machine.
  test: { name: 'conformance', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
});
