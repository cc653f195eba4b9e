import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native kernels use every core; one test file at a time keeps timings sane.
    fileParallelism: false,
    testTimeout: 120_000,
  },
});
