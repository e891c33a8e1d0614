import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'browser-demo',
    include: ['test/**/*.test.ts'],
    // The browser test builds the page and trains on three backends in Chromium.
    testTimeout: 90_000,
    hookTimeout: 90_000,
  },
});
