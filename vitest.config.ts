import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    // Integration tests start real servers and threads; two cores do not go far.
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...shared,
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/live/**', 'test/e2e/**', 'test/browser/**', 'node_modules/**'],
        },
      },
      {
        // Chromium tests run one at a time in one process: two browsers
        // launched side by side from separate test processes have been seen
        // to close a test process's channel to the runner.
        test: {
          ...shared,
          name: 'chromium',
          include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
