import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real node processes and measure timing: keep the 2-core machine calm.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
