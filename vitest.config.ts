import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // As `npm start` does: node:sqlite's ExperimentalWarning, printed once per worker that opens
    // a database, buried the run's output (~85 lines). Only this warning class is silenced.
    execArgv: ['--disable-warning=ExperimentalWarning'],
  },
});
